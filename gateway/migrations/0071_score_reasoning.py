"""A judge's reasoning and the request id of its own call on each score (issue #66):
"Grade: 8" and why, not a bare 0.80. Two columns with defaults, no copy of the table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0067_semantic_cache"),
    ]

    operations = [
        migrations.AddField(
            model_name="score",
            name="reasoning",
            field=models.TextField(blank=True, default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="score",
            name="judge_request_id",
            field=models.CharField(blank=True, default="", max_length=40),
            preserve_default=False,
        ),
    ]
