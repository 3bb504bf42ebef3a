"""What the prompt cache saved, in dollars, journaled per request and summed per hour."""

from decimal import Decimal

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0019_shadow_traffic"),
    ]

    operations = [
        migrations.AddField(
            model_name="requestlog",
            name="cache_saved_usd",
            field=models.DecimalField(
                blank=True,
                decimal_places=8,
                help_text="USD the prompt cache saved (may be negative: writes cost more)",
                max_digits=14,
                null=True,
            ),
        ),
        migrations.AddField(
            model_name="usagerollup",
            name="cache_saved_usd",
            field=models.DecimalField(decimal_places=8, default=Decimal("0"), max_digits=18),
        ),
    ]
