# Provider.kind takes its choices from the kinds registry (gateway.providers.kinds.KINDS)
# through a callable: the migration state holds the callable, not the list, so a kind
# added to the registry needs no migration. Nothing changes in the database.

from django.db import migrations, models

import gateway.providers.kinds


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0012_log_route_status_class_index"),
    ]

    operations = [
        migrations.AlterField(
            model_name="provider",
            name="kind",
            field=models.CharField(
                choices=gateway.providers.kinds.choices, default="openai", max_length=20
            ),
        ),
    ]
