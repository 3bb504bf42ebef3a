"""The one authorization decision: may this actor do this action on this resource?

Every path asks ``decide`` (or ``require``): console pages and sockets
(``gateway.web.decorators``, the consumers), ``/api`` (``gateway.web.api.auth``), ``/v1`` for
the requested route and for every route a request reaches (fallbacks, shadows,
context-window fallbacks), ``/mcp``, hosted MCP tools and route-attached servers. The rules
live in ``gateway/access/rules/``, one module per resource family, each registering its
actions with ``@rule`` when the app starts (``GatewayConfig.ready`` imports the package:
this module imports none of them); an action nobody registered is refused, so a new
path is never open by mistake. ``docs/security.md`` is the table of these rules.

Actors: a console or ``/api`` caller is a ``roles.Actor`` (a user with a role and teams,
the master key, or a management key acting as its user); a ``/v1`` or ``/mcp`` caller is
the virtual key's ``registry.KeyEntry`` (its owner user and team are on it). The operator
(the config file and the environment) is not an actor here: what only it may do is read
from settings, never granted by a rule.

Rules are plain functions over the in-memory snapshot or rows already loaded: ``decide``
adds one dict lookup to a request, no query."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Decision:
    """An answer with the reason a refusal gives the caller (safe to show them)."""

    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOW = Decision(True)


def deny(reason: str) -> Decision:
    return Decision(False, reason)


class Denied(Exception):
    """``require`` refused; ``reason`` is the caller-facing text."""

    def __init__(self, action: str, reason: str) -> None:
        super().__init__(reason)
        self.action = action
        self.reason = reason


Rule = Callable[[Any, Any], Decision]
RULES: dict[str, Rule] = {}
DESCRIPTIONS: dict[str, str] = {}


def rule(action: str) -> Callable[[Rule], Rule]:
    """Register the rule deciding ``action`` (its docstring is its line in the table)."""

    def register(fn: Rule) -> Rule:
        if action in RULES:
            raise RuntimeError(f"two rules for {action!r}")
        RULES[action] = fn
        DESCRIPTIONS[action] = (fn.__doc__ or "").strip()
        return fn

    return register


def decide(actor: Any, action: str, resource: Any = None) -> Decision:
    """The decision for ``actor`` doing ``action`` on ``resource``; unknown actions are
    refused."""
    check = RULES.get(action)
    if check is None:
        return deny(f"nobody may {action}")
    return check(actor, resource)


def require(actor: Any, action: str, resource: Any = None) -> None:
    """``decide``, raising ``Denied`` on a refusal."""
    decision = decide(actor, action, resource)
    if not decision.allowed:
        raise Denied(action, decision.reason or f"not allowed to {action}")
