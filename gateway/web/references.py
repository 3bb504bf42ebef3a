"""``os.environ/NAME`` references saved from the console, ``/api`` or a console import,
judged when saved, never at call time (the operator boundary, issue #61).

A reference is either the operator's or judged here:

- **The operator's** (``import_config``, ``apply -f``): the row is marked ``from_operator``
  and its references resolve at call time whatever ``SWITCHYARD_ENV_ALLOW`` says
  (``secret_refs.trust``); a provider of theirs may send the host's cloud credentials to
  its own endpoint (``gateway.providers.ambient``).
- **Anyone else's**: each reference must be a name the operator allows (rule
  ``env.resolve``) and, when what it holds is sent somewhere, a name that may go to every
  endpoint the row sends it to (rule ``env.send``, ``gateway.base.secrets.families``: a
  vendor's variables to that vendor's hosts; any other name only where the operator
  paired it). A refusal is a ``ValidationError`` naming the field and the rule.

A save is judged on what it changes: a reference added or changed, or every reference
when an endpoint changes (what is sent, and where). A person's save of an operator's row
keeps it the operator's while its references and endpoints stay as the operator wrote
them (toggling a guardrail, renaming a provider); changing either makes the row the
person's, judged whole (its other references lose the operator's trust).

Endpoints: a provider's base URL (the kind's own default when blank:
``Provider.default_base_url`` of its adapter) and Bedrock's runtime endpoint setting; a
deployment's endpoint params, else its provider's; an MCP server's URL (a stdio server
sends nothing anywhere); a guardrail's URL params (``Kind.endpoints``). An endpoint given
as a reference is read now to learn where it points. The units judge their own rows with
``state`` and ``judge`` (the MCP servers' and the guardrails' ``save``)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from gateway.access.authorization import decide
from gateway.base.secrets import secret_refs
from gateway.providers import kinds

# Deployment params and provider settings that name where calls go.
ENDPOINT_PARAMS = ("api_base", "base_url", "aws_bedrock_runtime_endpoint")

State = tuple[tuple[tuple[str, str], ...], tuple[str, ...]]  # (references by field, endpoints)


def _endpoint(value: object) -> str:
    """Where ``value`` (a URL or a reference to one) points now ("" when not known)."""
    if not isinstance(value, str):
        return ""
    name = secret_refs.reference_name(value)
    if name is None:
        return value.strip()
    if secret_refs.refusal(name):
        return ""  # the field itself is refused, naming why
    return os.environ.get(name, "").strip()


def problems(
    fields: Mapping[str, object],
    endpoints: Iterable[object],
    known: frozenset[tuple[str, str]] = frozenset(),
) -> dict[str, list[str]]:
    """{field: [why]} for each reference in ``fields`` that may not be read (``env.resolve``)
    or sent to one of ``endpoints`` (``env.send``), but the (field, name) pairs ``known``
    (as saved before, to the same endpoints). ``endpoints`` are the values naming where
    the row sends them: their own references are asked ``env.resolve`` only (a URL is
    where, not what: pass them as ``fields`` with no endpoints)."""

    urls = [_endpoint(value) for value in endpoints]
    found: dict[str, list[str]] = {}
    for field, value in fields.items():
        for name in secret_refs.references(value):
            if (field, name) in known:
                continue
            decision = decide(None, "env.resolve", name)
            reasons = [] if decision else [decision.reason]
            if decision:
                for url in dict.fromkeys(urls):
                    sent = decide(None, "env.send", (name, url))
                    if not sent and sent.reason not in reasons:
                        reasons.append(sent.reason)
            if reasons:
                found.setdefault(field, []).extend(r for r in reasons if r)
    return found


def refuse(found: dict[str, list[str]]) -> None:
    if found:
        raise ValidationError(found)


def state(fields: Mapping[str, object], endpoints: Iterable[object]) -> State:
    """What a row sends (its references, by field) and where (its endpoints)."""
    refs = tuple(
        (field, name) for field, value in fields.items() for name in secret_refs.references(value)
    )
    return refs, tuple(str(value or "") for value in endpoints)


def judge(
    row: Any,
    sent: Mapping[str, object],
    endpoints: list[object],
    where: Mapping[str, object],
    before: State | None,
) -> None:
    """Judge a person's save of ``row``: ``sent``, its referencing fields; ``where``, the
    fields naming its ``endpoints``; ``before``, its ``state(sent | where, endpoints)`` as
    stored (None: new). Clears ``row.from_operator`` when the save makes it the person's."""
    after = state({**sent, **where}, endpoints)
    if getattr(row, "from_operator", False):
        if before == after:
            return  # the operator's, as they wrote it
        row.from_operator = False
        known: frozenset[tuple[str, str]] = frozenset()
    elif before is not None and before[1] == after[1]:
        known = frozenset(before[0])  # the same endpoints: judge what is new
    else:
        known = frozenset()
    refuse(problems(sent, endpoints, known) | problems(where, [], known))


# --- rows ----------------------------------------------------------------------------------


def provider_endpoints(provider: Any) -> list[object]:

    settings = provider.settings if isinstance(provider.settings, dict) else {}
    adapter = kinds.adapter_class(provider.kind)
    base = provider.base_url or (getattr(adapter, "default_base_url", "") if adapter else "")
    return [base, *(settings[k] for k in ENDPOINT_PARAMS if settings.get(k))]


def provider_fields(provider: Any) -> dict[str, object]:
    settings = provider.settings if isinstance(provider.settings, dict) else {}
    return {
        "secret": provider.secret_ref,
        "extra_headers": provider.extra_headers,
        "api_version": provider.api_version,
        "settings": {k: v for k, v in settings.items() if k not in ENDPOINT_PARAMS},
    }


def _provider_where(provider: Any) -> dict[str, object]:
    settings = provider.settings if isinstance(provider.settings, dict) else {}
    return {
        "base_url": provider.base_url,
        "settings": {k: settings.get(k) for k in ENDPOINT_PARAMS},
    }


def check_provider(provider: Any, before: State | None) -> None:
    """Judge a provider a person saves (``before``: its ``provider_state`` as stored)."""
    judge(
        provider,
        provider_fields(provider),
        provider_endpoints(provider),
        _provider_where(provider),
        before,
    )


def provider_state(provider: Any) -> State | None:
    if provider is None or provider.pk is None:
        return None
    where = _provider_where(provider)
    return state({**provider_fields(provider), **where}, provider_endpoints(provider))


def split_params(params: Mapping[str, Any]) -> tuple[dict[str, object], dict[str, object]]:
    """(what is sent, where) of a deployment's params."""
    sent = {k: v for k, v in params.items() if k not in ENDPOINT_PARAMS}
    return {"params": sent}, {"params.endpoint": {k: params.get(k) for k in ENDPOINT_PARAMS}}


def deployment_state(params: object, provider: Any) -> State:
    params = params if isinstance(params, dict) else {}
    sent, where = split_params(params)
    return state({**sent, **where}, deployment_endpoints(params, provider))


def deployment_endpoints(params: Mapping[str, Any], provider: Any) -> list[object]:
    own = [params[k] for k in ENDPOINT_PARAMS if params.get(k)]
    if own or provider is None:
        return own
    return provider_endpoints(provider)


def check_deployment(deployment: Any, before: State | None) -> None:
    """Judge a deployment's params a person saves. When they name an endpoint of their
    own, the provider's references go there too, and are judged with them."""
    params = deployment.params if isinstance(deployment.params, dict) else {}
    provider = deployment.provider if deployment.provider_id is not None else None
    endpoints = deployment_endpoints(params, provider)
    sent, where = split_params(params)
    if provider is not None and any(params.get(k) for k in ENDPOINT_PARAMS):
        sent |= {f"params (provider {k})": v for k, v in provider_fields(provider).items()}
    try:
        judge(deployment, sent, endpoints, where, before)
    except ValidationError as exc:  # every finding under the field a caller sent: params
        reasons = [
            f"{k}: {m}" if k != "params" else m for k, ms in exc.message_dict.items() for m in ms
        ]
        raise ValidationError({"params": reasons}) from None
