# Provider kinds of issue #15 (gemini, vertex_ai, bedrock, cohere, openai_responses) and
# Provider.settings, their kind-specific defaults (e.g. a Bedrock region).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0008_security_extra_headers"),
    ]

    operations = [
        migrations.AddField(
            model_name="provider",
            name="settings",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AlterField(
            model_name="provider",
            name="kind",
            field=models.CharField(
                choices=[
                    ("openai", "OpenAI-compatible"),
                    ("anthropic", "Anthropic"),
                    ("azure", "Azure OpenAI"),
                    ("echo", "Echo (built-in test provider)"),
                    ("gemini", "Gemini API"),
                    ("vertex_ai", "Vertex AI"),
                    ("bedrock", "AWS Bedrock"),
                    ("cohere", "Cohere"),
                    ("openai_responses", "OpenAI Responses API"),
                ],
                default="openai",
                max_length=20,
            ),
        ),
    ]
