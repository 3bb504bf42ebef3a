"""Registers the guardrail plane into the pipeline and MCP (``gateway.base.hooks``),
from ``GatewayConfig.ready``; and gives the gateway's own guardrail kinds through the
plugin API's ``guardrail_kinds`` hook (``gateway.base.plugins``), the door an installed
package's kinds come through."""

from __future__ import annotations

from gateway.base import hooks
from gateway.features.guardrails import kinds
from gateway.features.guardrails.mcp import McpGuardrails
from gateway.features.guardrails.plane import Plane

PLANE = Plane()
MCP = McpGuardrails()


def register() -> None:
    hooks.call_guards.register(PLANE)
    hooks.mcp_guards.register(MCP)


def guardrail_kinds() -> list[kinds.Kind]:
    """The plugin hook: the built-in kinds (``kinds.BUILT_IN``)."""
    return list(kinds.BUILT_IN.values())
