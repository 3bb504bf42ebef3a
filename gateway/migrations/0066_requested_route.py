"""``RequestLog.requested_route``: the route a caller named when a fallback answered
(issue #66: the log showed only the answering route, and labelled the attempts on the
named route "fallback"). Nullable, so adding it is an ALTER TABLE ADD COLUMN, not a copy
of the journal; older rows read NULL ("the named route answered")."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0065_a2a"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestlog",
            name="requested_route",
            field=models.CharField(blank=True, max_length=200, null=True),
        ),
    ]
