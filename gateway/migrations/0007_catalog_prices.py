"""Prices and capabilities a deployment does not set come from the model catalog.

Prices become nullable (NULL: the catalog's price; 0 stays "free" when typed) and the
capability booleans become tri-state (NULL: the catalog decides). Existing rows that
hold the old defaults (price 0, tools and vision on, reasoning off) are turned into
NULL, because nothing distinguished "left at the default" from "chosen"; values that
differ from the old defaults were chosen and are kept.
"""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models

PRICES = ("input_price", "output_price", "cache_read_price", "cache_write_price")
OLD_FLAG_DEFAULTS = {"supports_tools": True, "supports_vision": True, "supports_reasoning": False}


def defaults_to_catalog(apps, schema_editor):
    Deployment = apps.get_model("gateway", "Deployment")
    for name in PRICES:
        Deployment.objects.filter(**{name: Decimal("0")}).update(**{name: None})
    for name, old in OLD_FLAG_DEFAULTS.items():
        Deployment.objects.filter(**{name: old}).update(**{name: None})


def catalog_to_defaults(apps, schema_editor):
    Deployment = apps.get_model("gateway", "Deployment")
    for name in PRICES:
        Deployment.objects.filter(**{f"{name}__isnull": True}).update(**{name: Decimal("0")})
    for name, old in OLD_FLAG_DEFAULTS.items():
        Deployment.objects.filter(**{f"{name}__isnull": True}).update(**{name: old})


def _price(help_text):
    return models.DecimalField(
        blank=True,
        decimal_places=6,
        default=None,
        help_text=help_text + " (empty: from the model catalog)",
        max_digits=12,
        null=True,
        validators=[django.core.validators.MinValueValidator(Decimal("0"))],
    )


def _flag():
    return models.BooleanField(
        blank=True, default=None, help_text="empty: from the model catalog", null=True
    )


class Migration(migrations.Migration):
    dependencies = [("gateway", "0006_translate_top_k")]

    operations = [
        migrations.AlterField("deployment", "input_price", _price("USD per 1M input tokens")),
        migrations.AlterField("deployment", "output_price", _price("USD per 1M output tokens")),
        migrations.AlterField(
            "deployment", "cache_read_price", _price("USD per 1M cache-read tokens")
        ),
        migrations.AlterField(
            "deployment", "cache_write_price", _price("USD per 1M cache-write tokens")
        ),
        migrations.AlterField(
            "deployment",
            "context_window",
            models.PositiveIntegerField(
                blank=True, help_text="most input tokens (empty: from the model catalog)", null=True
            ),
        ),
        migrations.AlterField(
            "deployment",
            "max_output_tokens",
            models.PositiveIntegerField(
                blank=True,
                help_text="most output tokens (empty: from the model catalog)",
                null=True,
            ),
        ),
        migrations.AlterField("deployment", "supports_tools", _flag()),
        migrations.AlterField("deployment", "supports_vision", _flag()),
        migrations.AlterField("deployment", "supports_reasoning", _flag()),
        migrations.RunPython(defaults_to_catalog, catalog_to_defaults),
    ]
