"""What the kinds that call out share (``generic_api``, ``moderation``, ``judge``): the
error a failed check raises, the params checks they have in common, and the guardrails'
own calls through the pipeline.

A checker that could not decide raises ``CheckFailed`` (a service down, a non-2xx, a
malformed answer, a route gone): the engine applies the guardrail's failure policy.
Its message names what failed, never a secret or the checked text.

A judge's call goes through the pipeline like any request (``gateway.core.service``),
inside ``internal_call()``: the guardrail plane sees the flag and applies no guardrail
to it, so a judge never judges its own prompt (a ``default_on`` judge would otherwise
recurse without end)."""

from __future__ import annotations

import contextlib
import re
from contextvars import ContextVar
from typing import Any

from gateway.base.errors import GatewayError
from gateway.base.scoped import scoped
from gateway.base.secrets.secret_refs import ENV_REFERENCE
from gateway.features.guardrails.kinds import ConfigError


class CheckFailed(GatewayError):
    """A check that could not decide; the guardrail's failure policy applies."""

    status = 503
    kind = "api_error"


_internal: ContextVar[bool] = ContextVar("guardrail_internal_call", default=False)


def internal_call() -> contextlib.AbstractContextManager[None]:
    """While inside, a request the pipeline serves is a guardrail's own (no guardrail
    applies to it). A context variable: tasks started inside inherit it, others not."""
    return scoped(_internal, True)


def in_internal_call() -> bool:
    return _internal.get()


def route_name(params: dict[str, Any]) -> str:
    """``params.route``: one of the gateway's routes, by name (whether it exists is
    asked at each check: routes come and go without the guardrail being saved)."""
    value = params.get("route")
    if not isinstance(value, str) or not value.strip():
        raise ConfigError("params.route", "name one of the gateway's routes")
    return value.strip()


def reference_or_text(value: Any, where: str) -> str:
    """A setting that may be a literal or ``os.environ/NAME`` (resolved when used)."""
    if not isinstance(value, str) or not value:
        raise ConfigError(where, "must be a text or os.environ/NAME")
    if value.startswith("os.environ/") and not ENV_REFERENCE.match(value):
        raise ConfigError(where, f"not a valid environment reference: {value!r}")
    return value


def compiled(value: Any, where: str) -> re.Pattern[str]:
    if not isinstance(value, str) or not value:
        raise ConfigError(where, "a regular expression is required")
    try:
        pattern = re.compile(value)
    except re.error as exc:
        raise ConfigError(where, f"not a valid regular expression: {exc}") from None
    if pattern.search("") is not None:
        raise ConfigError(where, "matches the empty text")
    return pattern
