from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0005_ops_route_cache"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="supports_top_k",
            field=models.BooleanField(
                default=False,
                help_text="the upstream takes top_k (vLLM, Ollama); else a caller's top_k is "
                "dropped (drop_params) or refused",
            ),
        ),
    ]
