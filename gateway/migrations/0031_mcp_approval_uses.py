from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0030_user_limits"),
    ]

    operations = [
        migrations.CreateModel(
            name="McpApprovalUse",
            fields=[
                ("nonce", models.CharField(max_length=32, primary_key=True, serialize=False)),
                ("expires_at", models.DateTimeField(db_index=True)),
            ],
        ),
    ]
