"""A key records who minted it (``ApiKey.minted_by``): a person's own upstream identities
go only with keys they minted themselves. Existing keys are taken as minted by their
owner, so nothing changes for them; keys without an owner stay minted by nobody."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def minted_by_their_owner(apps, schema_editor):
    ApiKey = apps.get_model("gateway", "ApiKey")
    ApiKey.objects.filter(user__isnull=False).update(minted_by=F("user"))


class Migration(migrations.Migration):
    dependencies = [
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
        ("gateway", "0054_request_body_derived"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="minted_by",
            field=models.ForeignKey(
                blank=True,
                editable=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="minted_keys",
                to=settings.AUTH_USER_MODEL,
            ),
        ),
        migrations.RunPython(minted_by_their_owner, migrations.RunPython.noop),
    ]
