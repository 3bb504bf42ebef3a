"""Provider base URLs and MCP server URLs are sealed at rest by their type (issue #61,
"secrets are a type, not a name"; ``gateway.models.sealed``): a URL with user info or a
query is stored encrypted whole, as a guardrail's ``api_base`` already is; before, they
were stored in clear and masked by a guess at which query parameters hold a key. The
columns become text (a ciphertext is longer than the 500 characters a URL may have);
existing rows with credentials in their URL are sealed, and unsealed on the way back."""

from typing import Any

from django.db import migrations

import gateway.models.sealed

SEALED = (("Provider", "base_url"), ("McpServer", "url"))


def seal(apps: Any, schema_editor: Any) -> None:
    from gateway.base.secrets.declared import url_has_secret

    for model, field in SEALED:
        rows = apps.get_model("gateway", model).objects.all()
        for row in rows:  # read plain (unsealed rows pass as they are); saved sealed
            if url_has_secret(getattr(row, field) or ""):
                row.save(update_fields=[field])


def unseal(apps: Any, schema_editor: Any) -> None:
    for model, field in SEALED:
        rows = apps.get_model("gateway", model).objects.all()
        table = rows.model._meta.db_table
        quote = schema_editor.quote_name
        for row in rows:  # the plain URL, written past the field's sealing
            schema_editor.execute(
                f"UPDATE {quote(table)} SET {quote(field)} = %s WHERE {quote('id')} = %s",
                [getattr(row, field) or "", row.pk],
            )


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0060_tag_budgets"),
    ]

    operations = [
        migrations.AlterField(
            model_name="mcpserver",
            name="url",
            field=gateway.models.sealed.SealedUrlField(blank=True),
        ),
        migrations.AlterField(
            model_name="provider",
            name="base_url",
            field=gateway.models.sealed.SealedUrlField(
                blank=True,
                help_text="OpenAI-compatible: include the version path (http://host:8000/v1). "
                "Anthropic: the host root (https://api.anthropic.com).",
            ),
        ),
        migrations.RunPython(seal, unseal),
    ]
