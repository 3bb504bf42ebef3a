"""Tag budgets (issue #65): a tag's budget per period and rpm/tpm, counted by every
request carrying the tag (``TagBudget``); a key may allow its requests only its own tags
(``ApiKey.enforce_tags``), so spend by tag is attribution, not a caller's claim."""

from decimal import Decimal

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0059_operator_trust_and_secrecy"),
    ]

    operations = [
        migrations.CreateModel(
            name="TagBudget",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=64, unique=True)),
                ("description", models.CharField(blank=True, max_length=500)),
                ("rpm_limit", models.PositiveIntegerField(blank=True, null=True)),
                ("tpm_limit", models.PositiveIntegerField(blank=True, null=True)),
                (
                    "budget_usd",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=12,
                        null=True,
                        validators=[django.core.validators.MinValueValidator(Decimal("0"))],
                    ),
                ),
                (
                    "budget_period",
                    models.CharField(
                        choices=[("day", "Per day"), ("month", "Per month"), ("total", "In total")],
                        default="month",
                        max_length=10,
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("updated_at", models.DateTimeField(auto_now=True)),
            ],
            options={
                "ordering": ["name"],
            },
        ),
        migrations.AddField(
            model_name="apikey",
            name="enforce_tags",
            field=models.BooleanField(default=False),
        ),
    ]
