"""LiteLLM's top-level ``guardrails:`` list in and out.

LiteLLM's form, one entry per guardrail::

    guardrails:
      - guardrail_name: no-pii
        litellm_params:
          guardrail: presidio            # the kind: presidio, hide-secrets,
                                         # litellm_content_filter, generic_guardrail_api,
                                         # openai_moderation (and Switchyard's llm_judge)
          mode: [pre_call, post_call]    # one mode or a list
          default_on: true               # optional (false)
          unreachable_fallback: fail_open  # optional (fail_closed)
          timeout: 3                     # optional (5 seconds)
          pii_entities_config: {EMAIL_ADDRESS: MASK}   # every other entry: the kind's params
          api_key: os.environ/GUARD_KEY
        guardrail_info:                  # LiteLLM's free-form metadata
          description: ...
          switchyard: {monitor: true}    # what LiteLLM has no field for

Every other ``litellm_params`` entry is the kind's params as it is (``os.environ/``
references kept as references, route names as names). Each guardrail is validated as
saving would (``gateway.ops.guardrails.prepare``): a bad one is skipped (listed, naming
``guardrails[i].litellm_params.<field>``) like any entry the importer cannot take, and
fails a strict import. Imported rows are ``from_config``; the operator's file's are
``from_operator`` too (their references trusted), anyone else's references are judged as a
console save's (``gateway.web.references``). Importing the same file again changes
nothing. The export writes literal secrets as ``os.environ/`` references unless
secrets are included, and recognises those references when the export comes back."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

from gateway.models import Guardrail
from gateway.models.guardrails import FAIL_CLOSED, unseal_params
from gateway.ops.litellm.variables import env_variable

# litellm_params entries that are the guardrail's own settings, not its kind's params
OWN_PARAMS = ("guardrail", "mode", "default_on", "unreachable_fallback", "timeout")
ENTRY_KEYS = frozenset({"guardrail_name", "litellm_params", "guardrail_info"})
OWN_KEY = "switchyard"  # guardrail_info.switchyard: Switchyard's settings LiteLLM lacks
DEFAULT_TIMEOUT = 5.0


@dataclass(slots=True)
class GuardrailSpec:
    path: str  # "guardrails[2]"
    name: str
    kind: str
    modes: Any  # a string or a list, as the file gives it (validated when planned)
    default_on: bool = False
    unreachable_fallback: str = FAIL_CLOSED
    timeout: Any = DEFAULT_TIMEOUT
    params: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    monitor: bool = False


def where(path: str, error_field: str) -> str:
    """The file's path of a field ``gateway.ops.guardrails`` names."""
    if error_field == "name":
        return f"{path}.guardrail_name"
    if error_field in ("kind", "__all__"):
        return f"{path}.litellm_params" + (".guardrail" if error_field == "kind" else "")
    if error_field in ("modes", "mode"):
        return f"{path}.litellm_params.mode"
    if error_field in ("description", "monitor"):
        suffix = "description" if error_field == "description" else f"{OWN_KEY}.monitor"
        return f"{path}.guardrail_info.{suffix}"
    if error_field == "params":
        return f"{path}.litellm_params"
    return f"{path}.litellm_params.{error_field.removeprefix('params.')}"


def _exported_variable(guardrail: str, names: tuple[str, ...]) -> str:
    return env_variable(guardrail, "GUARDRAIL", *names)


def _restore_exported(sent: Any, stored: Any, guardrail: str, names: tuple[str, ...] = ()) -> Any:
    """``sent`` (the file's params) where an ``os.environ/`` reference the export wrote
    for a stored literal secret stands for that literal (so an export imported again
    changes nothing)."""
    from gateway.models.guardrails import is_sealed

    if isinstance(sent, dict):
        old = stored if isinstance(stored, dict) else {}
        return {
            k: _restore_exported(v, old.get(k), guardrail, (*names, str(k)))
            for k, v in sent.items()
        }
    if (
        isinstance(sent, str)
        and is_sealed(stored)
        and sent == f"os.environ/{_exported_variable(guardrail, names)}"
    ):
        return unseal_params({"v": stored})["v"]
    return sent


def plan_guardrails(
    specs: list[GuardrailSpec], change: Callable[..., Any], operator: bool = False
) -> tuple[list[Any], list[Any]]:
    """(one ``change`` (``plan.Change``, passed in: the plan imports this module) per
    guardrail that can be saved, (path, reason) per one that cannot, naming its field:
    the plan makes its ``Skipped`` of it, as parse imports this module)."""
    from gateway.features.guardrails import save as ops

    existing = {g.name: g for g in Guardrail.objects.all()}
    changes: list[Any] = []
    skipped: list[Any] = []
    for spec in specs:
        row = existing.get(spec.name)
        before = ops.comparable(row) if row is not None else None
        values = {
            "name": spec.name,
            "kind": spec.kind,
            "modes": spec.modes,
            "default_on": spec.default_on,
            "monitor": spec.monitor,
            "unreachable_fallback": spec.unreachable_fallback,
            "timeout": spec.timeout,
            "params": _restore_exported(spec.params, row.params if row else None, spec.name),
            "description": spec.description,
        }
        try:
            prepared = ops.prepare(row, values, from_config=True, from_operator=operator)
        except ValidationError as exc:
            problems = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
            reason = "; ".join(
                f"{where(spec.path, name)}: {' '.join(messages)}"
                for name, messages in problems.items()
            )
            skipped.append((spec.path, reason))
            if row is not None:
                row.refresh_from_db()  # prepare set some values before refusing
            continue
        after = ops.comparable(prepared)
        if before is None:
            action, fields = "create", {}
        else:
            fields = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
            if "params" in fields:
                fields["params"] = ("(stored)", "(new value)")  # may hold secrets
            action = "update" if fields else "unchanged"
        made = change(action, f"guardrail {spec.name} ({spec.kind})", prepared, fields)
        made.item = spec.name
        changes.append(made)
    return changes, skipped


def export_section(include_secrets: bool, comments: list[str]) -> list[dict[str, Any]]:
    """The enabled guardrails in LiteLLM's form (a disabled one has no LiteLLM form: said
    in a comment)."""
    out: list[dict[str, Any]] = []
    for guardrail in Guardrail.objects.order_by("name"):
        if not guardrail.enabled:
            comments.append(f"guardrail {guardrail.name} is disabled and not exported")
            continue
        modes = [str(m) for m in guardrail.modes or []]
        params: dict[str, Any] = {
            "guardrail": guardrail.kind,
            "mode": modes[0] if len(modes) == 1 else modes,
            "default_on": guardrail.default_on,
        }
        if guardrail.unreachable_fallback != FAIL_CLOSED:
            params["unreachable_fallback"] = guardrail.unreachable_fallback
        if guardrail.timeout != DEFAULT_TIMEOUT:
            params["timeout"] = guardrail.timeout
        for name, value in _export_params(
            guardrail.name, guardrail.params, include_secrets, comments
        ).items():
            params.setdefault(name, value)
        entry: dict[str, Any] = {"guardrail_name": guardrail.name, "litellm_params": params}
        info: dict[str, Any] = {}
        if guardrail.description:
            info["description"] = guardrail.description
        if guardrail.monitor:
            info[OWN_KEY] = {"monitor": True}
        if info:
            entry["guardrail_info"] = info
        out.append(entry)
    return out


def _export_params(
    guardrail: str,
    params: Any,
    include_secrets: bool,
    comments: list[str],
    names: tuple[str, ...] = (),
) -> Any:
    from gateway.models.guardrails import is_sealed

    if isinstance(params, dict):
        return {
            k: _export_params(guardrail, v, include_secrets, comments, (*names, str(k)))
            for k, v in params.items()
        }
    if not is_sealed(params):
        return params
    if include_secrets:
        return unseal_params({"v": params})["v"]
    variable = _exported_variable(guardrail, names)
    comments.append(
        f"guardrail {guardrail}: {'.'.join(names)} is exported as os.environ/{variable}"
    )
    return f"os.environ/{variable}"
