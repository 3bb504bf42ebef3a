"""A judge's reasoning and the request id of its own call on each score (issue #66):
"Grade: 8" and why, not a bare 0.80 (two columns with defaults, no copy of the table);
and a partial index on the log rows that named a registry prompt, for the prompt page's
per-version metrics (only those rows are in it)."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0069_mcp_tasks_and_client_documents"),
    ]

    operations = [
        migrations.AddField(
            model_name="score",
            name="reasoning",
            field=models.TextField(blank=True, default=""),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="score",
            name="judge_request_id",
            field=models.CharField(blank=True, default="", max_length=40),
            preserve_default=False,
        ),
        migrations.AddIndex(
            model_name="requestlog",
            index=models.Index(
                condition=Q(prompt_name__isnull=False),
                fields=["prompt_name", "prompt_version", "-created_at"],
                name="log_prompt_version",
            ),
        ),
    ]
