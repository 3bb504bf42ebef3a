"""Registers the guardrail plane into the pipeline, Realtime sessions, MCP and
agent messages (A2A)
(``gateway.base.hooks``), from the unit's ``register`` (``apps.py``); and gives the gateway's own guardrail kinds through the
plugin API's ``guardrail_kinds`` hook (``gateway.base.plugins``), the door an installed
package's kinds come through."""

from __future__ import annotations

from gateway.base import hooks
from gateway.features.guardrails import kinds
from gateway.features.guardrails.live import Sessions
from gateway.features.guardrails.mcp import McpGuardrails
from gateway.features.guardrails.messages import MessageGuardrails
from gateway.features.guardrails.plane import Plane

PLANE = Plane()
MCP = McpGuardrails()
SESSIONS = Sessions()
MESSAGES = MessageGuardrails()


def register() -> None:
    hooks.call_guards.register(PLANE)
    hooks.session_guards.register(SESSIONS)
    hooks.mcp_guards.register(MCP)
    hooks.message_guards.register(MESSAGES)


def guardrail_kinds() -> list[kinds.Kind]:
    """The plugin hook: the built-in kinds (``kinds.BUILT_IN``)."""
    return list(kinds.BUILT_IN.values())
