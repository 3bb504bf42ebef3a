import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0073_score_configs"),
    ]

    operations = [
        migrations.AddField(
            model_name="a2aagent",
            name="session_budget_usd",
            field=models.DecimalField(
                blank=True,
                decimal_places=6,
                max_digits=12,
                null=True,
                validators=[django.core.validators.MinValueValidator(0)],
            ),
        ),
    ]
