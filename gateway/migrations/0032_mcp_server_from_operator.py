from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("gateway", "0031_mcp_approval_uses")]

    operations = [
        migrations.AddField(
            model_name="mcpserver",
            name="from_operator",
            field=models.BooleanField(default=False, editable=False),
        ),
    ]
