"""Registers the guardrail plane into the pipeline and MCP (``gateway.base.hooks``),
from ``GatewayConfig.ready``."""

from __future__ import annotations

from gateway.base import hooks
from gateway.guardrails.mcp import McpGuardrails
from gateway.guardrails.plane import Plane

PLANE = Plane()
MCP = McpGuardrails()


def register() -> None:
    hooks.call_guards.register(PLANE)
    hooks.mcp_guards.register(MCP)
