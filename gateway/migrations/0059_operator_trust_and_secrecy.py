"""Rows the operator's config file writes are marked ``from_operator`` (their references
are trusted, gateway.ops.references), and guardrail params are sealed as their kind
declares them (``Kind.params``), no longer by a name heuristic: a header value called
``Cookie``, a URL's user info and query, a param the kind does not declare were stored
in clear (M18). Existing rows cannot tell the operator's import from a console one:
they stay unmarked until the operator imports or applies their file again."""

from typing import Any

from django.db import migrations, models


def reseal_guardrail_params(apps: Any, schema_editor: Any) -> None:
    from gateway.features.guardrails import kinds
    from gateway.models.guardrails import seal_params, unseal_params

    Guardrail = apps.get_model("gateway", "Guardrail")
    for row in Guardrail.objects.all():
        if not isinstance(row.params, dict):
            continue
        kind = kinds.KINDS.get(row.kind)
        params = unseal_params(row.params, row.name)
        sealed = seal_params(params, row.params, kind.secrecy if kind else None)
        if sealed != row.params:
            row.params = sealed
            row.save(update_fields=["params"])


class Migration(migrations.Migration):
    dependencies = [
        ("gateway", "0058_stored_objects_key_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="from_operator",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="guardrail",
            name="from_operator",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.AddField(
            model_name="provider",
            name="from_operator",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(reseal_guardrail_params, migrations.RunPython.noop),
    ]
