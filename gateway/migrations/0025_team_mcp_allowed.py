from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0024_mcp_servers"),
    ]

    operations = [
        migrations.AddField(
            model_name="team",
            name="mcp_allowed",
            field=models.JSONField(blank=True, default=None, null=True),
        ),
    ]
