from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("gateway", "0039_request_translation_notes")]

    operations = [
        migrations.AddField(
            model_name="mcpserver",
            name="sampling_route",
            field=models.CharField(blank=True, max_length=200),
        ),
    ]
