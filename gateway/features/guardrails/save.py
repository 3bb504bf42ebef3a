"""The one way a guardrail is saved from what a person or a file gave: the management
API, the console and the LiteLLM import all come here.

``prepare`` turns fields (``name``, ``kind``, ``mode``/``modes``, ``default_on``,
``monitor``, ``unreachable_fallback``, ``timeout``, ``params``, ``enabled``,
``description``) into a row, unsaved: the kind validates its params
(``kinds.validate``), so a bad regex or a missing URL is a
``ValidationError`` keyed by its field (``params.patterns[1].pattern``) before anything
is written; the params the kind declares secret (``Kind.params``) are stored encrypted
(``os.environ/NAME`` references kept), and a mask sent back keeps what is stored. ``save_guardrail`` saves
what ``prepare`` accepted; ``delete_guardrail`` refuses while keys, teams or routes name
the guardrail (deleting it would silently stop checks they were set up to run).

Every save and delete is an audit event through the model signals
(``gateway.telemetry.audit`` watches ``Guardrail``), in the save's transaction."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from gateway.features.guardrails import kinds
from gateway.models import Guardrail
from gateway.models.guardrails import (
    FAIL_CLOSED,
    masked_leftovers,
    references_to,
    seal_params,
    unmask_params,
    unseal_params,
)
from gateway.web import references

FIELDS = frozenset(
    {
        "name",
        "kind",
        "modes",
        "mode",
        "default_on",
        "monitor",
        "unreachable_fallback",
        "timeout",
        "params",
        "enabled",
        "description",
    }
)
FLAGS = ("default_on", "monitor", "enabled")
DEFAULT_TIMEOUT = 5.0


def prepare(
    guardrail: Guardrail | None,
    values: Mapping[str, Any],
    *,
    from_config: bool = False,
    from_operator: bool = False,
) -> Guardrail:
    """``guardrail`` (None: a new one) with ``values`` applied and validated, unsaved;
    a ``ValidationError`` naming each bad field otherwise. ``from_operator``: the
    operator's config file is saving it, its references and endpoints trusted; anyone
    else's are judged (``gateway.web.references``: the allow list, and where a host
    credential may go), unless they leave an operator's references and endpoints as
    they were. Secrets are sealed as the kind declares them (``Kind.params``)."""
    unknown = sorted(set(values) - FIELDS)
    if unknown:
        raise ValidationError({name: "unknown field" for name in unknown})
    row = guardrail if guardrail is not None else Guardrail()
    given = {k: v for k, v in values.items() if v is not None or k == "description"}
    if "mode" in given:
        given.setdefault("modes", given.pop("mode"))
    errors: dict[str, list[str]] = {}
    for flag in FLAGS:
        if flag in given and not isinstance(given[flag], bool):
            errors[flag] = ["must be true or false"]
    for text in ("name", "kind", "description"):  # a null description clears it
        if given.get(text) is not None and not isinstance(given[text], str):
            errors[text] = ["must be a string"]
    if errors:
        raise ValidationError(errors)
    name = str(given.get("name", row.name) or "").strip()
    kind_name = str(given.get("kind", row.kind) or "").strip()
    modes = given.get("modes", row.modes if row.pk else None)
    timeout = given.get("timeout", row.timeout if row.pk else DEFAULT_TIMEOUT)
    fallback = given.get("unreachable_fallback", row.unreachable_fallback or FAIL_CLOSED)
    if "params" in given:  # a mask sent back keeps the stored secret under that name
        params = unmask_params(given["params"], row.params)
    else:
        params = unseal_params(row.params or {})
    if not kind_name:
        raise ValidationError({"kind": ["is required: " + ", ".join(kinds.KINDS)]})
    leftovers = masked_leftovers(params)
    if leftovers:
        raise ValidationError(
            {where: ["give a value (the mask keeps a stored one)"] for where in leftovers}
        )
    try:
        modes, params = kinds.validate(kind_name, modes, params, timeout=timeout, fallback=fallback)
    except kinds.ConfigError as exc:
        field = "modes" if exc.field == "mode" and "mode" not in values else exc.field
        raise ValidationError({field: [exc.message]}) from None
    except ImportError:
        raise ValidationError(
            {"kind": [f"the {kind_name} kind is not available in this build"]}
        ) from None
    kind = kinds.kind(kind_name)
    if from_operator:
        row.from_operator = True
    else:
        same_kind = row.pk is not None and row.kind == kind_name
        stored = unseal_params(row.params) if same_kind else None
        before = guardrail_state(kind, stored) if same_kind else None
        check_guardrail(row, kind, params, before)
    row.name, row.kind, row.modes, row.params = (
        name,
        kind_name,
        modes,
        seal_params(params, row.params, kind.secrecy),
    )
    row.timeout, row.unreachable_fallback = float(timeout), str(fallback)
    for flag in FLAGS:
        if flag in given:
            setattr(row, flag, given[flag])
    if "description" in given:
        row.description = str(given["description"] or "").strip()
    row.from_config = from_config
    row.full_clean()
    return row


# --- references: judged as a person saves them (gateway.web.references) -----------------


def guardrail_endpoints(kind: Any, params: Mapping[str, Any]) -> list[object]:
    return [params[name] for name in kind.endpoints if params.get(name)]


def guardrail_state(kind: Any, params: object) -> references.State:
    params = params if isinstance(params, dict) else {}
    sent, where = _guardrail_split(kind, params)
    return references.state({**sent, **where}, guardrail_endpoints(kind, params))


def _guardrail_split(
    kind: Any, params: Mapping[str, Any]
) -> tuple[dict[str, object], dict[str, object]]:
    sent = {f"params.{k}": v for k, v in params.items() if k not in kind.endpoints}
    return sent, {f"params.{k}": params.get(k) for k in kind.endpoints}


def check_guardrail(
    row: Any, kind: Any, params: Mapping[str, Any], before: references.State | None
) -> None:
    """Judge a guardrail's params a person saves (plaintext, as validated; ``before``
    its ``guardrail_state`` as stored): its URL params are where the rest is sent."""
    sent, where = _guardrail_split(kind, params)
    references.judge(row, sent, guardrail_endpoints(kind, params), where, before)


def save_guardrail(
    guardrail: Guardrail | None,
    values: Mapping[str, Any],
    *,
    from_config: bool = False,
    from_operator: bool = False,
) -> Guardrail:
    """Create (``guardrail`` None) or change a guardrail; all or nothing. A change made
    here by a person takes the row from the config file (``from_config`` False)."""
    row = prepare(guardrail, values, from_config=from_config, from_operator=from_operator)
    with transaction.atomic():
        row.save()
    return row


def delete_guardrail(guardrail: Guardrail) -> None:
    """Delete ``guardrail``; a ``ValidationError`` naming the keys, teams and routes that
    still run it (remove it from them first). Refusing, not unlinking: a guardrail
    someone attached is a check they rely on, and a delete that quietly drops it from a
    route would turn that check off without anyone deciding so."""
    users = references_to(guardrail.name)
    if users:
        named = "; ".join(f"{what} {', '.join(names)}" for what, names in users.items())
        raise ValidationError(
            f"guardrail {guardrail.name} is still named by {named}: remove it there first"
        )
    guardrail.delete()


def comparable(guardrail: Guardrail) -> dict[str, Any]:
    """What an import compares (secrets decrypted), to tell an update from no change."""
    return {
        "kind": guardrail.kind,
        "modes": list(guardrail.modes or []),
        "default_on": guardrail.default_on,
        "monitor": guardrail.monitor,
        "unreachable_fallback": guardrail.unreachable_fallback,
        "timeout": guardrail.timeout,
        "params": unseal_params(guardrail.params),
        "enabled": guardrail.enabled,
        "description": guardrail.description,
        "from_config": guardrail.from_config,
        "from_operator": guardrail.from_operator,
    }
