"""Mediation: every request made valid for its upstream before the call, from what is
declared once — the upstream's API version (``Provider.api_version``, with what each
version refuses: ``gateway.codecs.base.ApiVersion``) and the model's parameter rules
(``gateway.catalog.rules``, on its catalog entry).

A parameter the upstream would answer 400 to is dropped or mapped, never sent; each
change is a "lost in translation" note (``gateway.core.lossiness``: the journal's
``translation``, ``switchyard_translation_dropped_total``). A strict route
(``drop_params`` off) refuses instead, with a 400 in the caller's own format naming the
parameter and why, before any upstream call: a mapping (a thinking budget sent as
adaptive thinking, a value clamped) is no loss and goes on, noted. The deployment's own
params are the operator's: one the upstream refuses is left out and noted, never a
refusal (saving it with a version that refuses it is refused: ``Provider.param_problems``).

Two paths, one set of rules: ``for_request`` changes a canonical request (translated
calls; the codec then writes it, holding the deployment's params to the same version);
``for_body`` changes a body passed through as the caller sent it (top-level parameters
by name here, what is in the dialect's own shape by the adapter: ``conform_body``).

A request on an upstream of no versions to a model with no rules costs two attribute
reads and a dict lookup; nothing is allocated.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, Document, Message, Part, Reasoning, Text
from gateway.catalog.rules import ParamRule, nearest_effort
from gateway.codecs.base import ApiVersion
from gateway.core.lossiness import DROPPED, REWRITTEN, Note
from gateway.providers.base import Provider

_SAMPLING = ("temperature", "top_p", "top_k", "max_tokens")
PARAMS_SUFFIX = " (deployment params)"


def _rules(deployment: DeploymentEntry) -> tuple[ParamRule, ...]:
    catalog = deployment.catalog
    return getattr(catalog, "rules", ()) if catalog is not None else ()


def _value(request: ChatRequest, name: str) -> Any:
    """A canonical parameter's value on ``request`` (None: not set)."""
    if name in _SAMPLING:
        return getattr(request, name)
    if name.startswith("reasoning."):
        reasoning = request.reasoning
        return getattr(reasoning, name[10:], None) if reasoning is not None else None
    return request.extra.get(name)


def _allowed(rule: ParamRule, value_of: Any) -> bool:
    """Whether a ``reject_unless`` rule's condition holds (a value not given never
    matches: the parameter is dropped rather than risk a 400)."""
    for field, values in rule.unless:
        value = value_of(field)
        if value is None or str(value) not in values:
            return False
    return True


def _refuse(notes: list[Note], route: RouteEntry, deployment: DeploymentEntry) -> None:
    """A strict route refuses what would be dropped of the caller's request."""
    if route.drop_params:
        return
    lost = [n for n in notes if n["action"] == DROPPED and not n["field"].endswith(PARAMS_SUFFIX)]
    if lost:
        names = ", ".join(n["field"] for n in lost)
        raise InvalidRequest(
            f"model {route.name!r} (upstream {deployment.label}) cannot take {names}: "
            f"{lost[0]['detail']}; route {route.name!r} is strict (drop_params off), so "
            "the request is refused instead of sent without it",
            param=lost[0]["field"],
        )


def _note(notes: list[Note], field: str, action: str, detail: str) -> None:
    if not any(n["field"] == field for n in notes):
        notes.append({"field": field, "action": action, "detail": detail})


def _assistant_documents(messages: list[Message]) -> list[Message] | None:
    """The messages with an assistant turn's documents as text (None: there are none)."""

    def has(message: Message) -> bool:
        return message.role == "assistant" and any(isinstance(p, Document) for p in message.parts)

    if not any(has(m) for m in messages):
        return None

    def plain(part: Part) -> Part:
        if not isinstance(part, Document):
            return part
        return Text(part.text if part.text is not None else f"[document {part.name()} not shown]")

    return [
        dataclasses.replace(m, parts=[plain(p) for p in m.parts]) if has(m) else m for m in messages
    ]


def for_request(
    request: ChatRequest, adapter: Provider, route: RouteEntry, deployment: DeploymentEntry
) -> tuple[ChatRequest, list[Note] | None]:
    """``request`` as ``deployment``'s upstream takes it (a copy when anything changes)
    and the notes of what changed (None: nothing). Raises ``InvalidRequest`` on a strict
    route for what would be dropped."""
    version = adapter.api_version(deployment) if adapter.api_versions else None
    rules = _rules(deployment)
    if (version is None or version.lenient) and not rules and not deployment.params:
        return request, None
    notes: list[Note] = []
    changes: dict[str, Any] = {}
    if version is not None and not version.lenient:
        _version_changes(request, version, changes, notes)
    for rule in rules:
        _rule_change(request, rule, changes, notes)
    for field, action, detail in adapter.dropped_params(deployment):
        _note(notes, field, action, detail)
    if not notes:
        return request, None
    _refuse(notes, route, deployment)
    return (dataclasses.replace(request, **changes) if changes else request), notes


def _version_changes(
    request: ChatRequest, version: ApiVersion, changes: dict[str, Any], notes: list[Note]
) -> None:
    for name in sorted(version.refuses):
        if name in _SAMPLING and getattr(request, name) is not None:
            changes[name] = None
            _note(notes, name, DROPPED, version.why())
    if not version.assistant_documents:
        messages = _assistant_documents(request.messages)
        if messages is not None:
            changes["messages"] = messages
            _note(notes, "document (assistant turn)", REWRITTEN, version.why() + ": sent as text")


def _rule_change(
    request: ChatRequest, rule: ParamRule, changes: dict[str, Any], notes: list[Note]
) -> None:
    name = rule.name
    value = _value(request, name)
    if value is None or rule.action in ("accept", "rename"):
        return  # (a translated body is named by its codec)
    if rule.action == "reject" or (
        rule.action == "reject_unless" and not _allowed(rule, lambda f: _value(request, f))
    ):
        if name in _SAMPLING:
            changes[name] = None
        elif name.startswith("reasoning."):
            changes["reasoning"] = None
        else:
            changes["extra"] = {k: v for k, v in request.extra.items() if k != name}
        _note(notes, name, DROPPED, rule.why())
    elif rule.action == "clamp" and isinstance(value, int | float) and not isinstance(value, bool):
        assert rule.low is not None and rule.high is not None
        clamped = min(max(value, rule.low), rule.high)
        if clamped != value and name in _SAMPLING:
            changes[name] = type(value)(clamped)
            _note(notes, name, REWRITTEN, f"{value} {rule.why()}")
    elif rule.action == "map" and name == "reasoning.budget_tokens" and isinstance(value, int):
        effort = nearest_effort(value)
        changes["reasoning"] = Reasoning(effort=effort)  # type: ignore[arg-type]
        _note(notes, name, REWRITTEN, f"{rule.why()}: sent as adaptive thinking at effort {effort}")


def for_body(
    body: dict[str, Any],
    request: ChatRequest,
    adapter: Provider,
    route: RouteEntry,
    deployment: DeploymentEntry,
) -> tuple[dict[str, Any], list[Note] | None]:
    """A passed-through ``body`` as ``deployment``'s upstream takes it (``body`` itself
    when nothing changes) and the notes (None: nothing lost). Raises ``InvalidRequest`` on a
    strict route for what would be dropped."""
    rules = _rules(deployment)
    if not rules and not adapter.api_versions and not deployment.params:
        return body, None
    notes: list[Note] = []
    out = body
    for rule in rules:
        out = _body_rule(out, request, rule, notes)
    out, changes = adapter.conform_body(out, deployment)
    for field, action, detail in changes:
        _note(notes, field, action, detail)
    if not notes:  # (the deployment's params added are no loss)
        return out, None
    _refuse(notes, route, deployment)
    return out, notes


def _body_rule(
    body: dict[str, Any], request: ChatRequest, rule: ParamRule, notes: list[Note]
) -> dict[str, Any]:
    """One rule on a passed-through body's top-level parameter (a reasoning rule reads
    the canonical request the body parsed to; its shape is the adapter's)."""
    name = rule.name
    if "." in name or name not in body or body[name] is None or rule.action == "accept":
        return body
    value = body[name]
    if rule.action == "reject" or (
        rule.action == "reject_unless" and not _allowed(rule, lambda f: _value(request, f))
    ):
        _note(notes, name, DROPPED, rule.why())
        return {k: v for k, v in body.items() if k != name}
    if rule.action == "rename" and rule.to not in body:
        _note(notes, name, REWRITTEN, rule.why())
        return {(rule.to if k == name else k): v for k, v in body.items()}
    if rule.action == "clamp" and isinstance(value, int | float) and not isinstance(value, bool):
        assert rule.low is not None and rule.high is not None
        clamped = min(max(value, rule.low), rule.high)
        if clamped != value:
            _note(notes, name, REWRITTEN, f"{value} {rule.why()}")
            return {**body, name: type(value)(clamped)}
    return body
