"""pre_mcp_call: the guardrails with that mode check a tool call's arguments before the
tool runs and the text it returned after (``hooks.McpGuard``), on ``/mcp``, hosted MCP
tools and route-attached servers. What applies: the ``default_on`` ones, the key's and
its team's, and the route's when the call belongs to a chat request."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base.entries import GuardrailEntry, KeyEntry, RouteEntry
from gateway.errors import GuardrailBlocked
from gateway.guardrails import engine
from gateway.guardrails.kinds import Context
from gateway.guardrails.plane import applicable
from gateway.policy import registry


def _entries(key: KeyEntry, route: RouteEntry | None) -> list[GuardrailEntry]:
    snapshot = registry.current()
    if not snapshot.guardrails:
        return []
    return [e for e in applicable(snapshot, key, route, []) if "pre_mcp_call" in e.modes]


class McpGuardrails:
    """The one ``hooks.McpGuard``. ``notes``: where a caller collects the verdicts (a
    hosted call's journal row); None: they are logged with the refusal only."""

    async def check_call(
        self,
        key: KeyEntry,
        server: str,
        tool: str,
        arguments: dict[str, Any],
        route: RouteEntry | None = None,
        notes: engine.Notes | None = None,
    ) -> dict[str, Any]:
        entries = _entries(key, route)
        if not entries:
            return arguments
        text = orjson.dumps(arguments).decode()
        checked = await engine.run(
            entries, [text], _context(key, server, tool, route, "request"), notes or engine.Notes()
        )
        if checked[0] == text:
            return arguments
        try:
            rewritten = orjson.loads(checked[0])
        except orjson.JSONDecodeError:
            rewritten = None
        if not isinstance(rewritten, dict):
            raise GuardrailBlocked(
                f"a guardrail rewrote the arguments of {server}__{tool} into invalid JSON",
                guardrail=entries[0].name,
            )
        return rewritten

    async def check_result(
        self,
        key: KeyEntry,
        server: str,
        tool: str,
        result: str,
        route: RouteEntry | None = None,
        notes: engine.Notes | None = None,
    ) -> str:
        entries = _entries(key, route)
        if not entries or not result:
            return result
        checked = await engine.run(
            entries,
            [result],
            _context(key, server, tool, route, "response"),
            notes or engine.Notes(),
        )
        return checked[0]


def _context(
    key: KeyEntry, server: str, tool: str, route: RouteEntry | None, input_type: str
) -> Context:
    return Context(
        input_type=input_type,  # type: ignore[arg-type]
        mode="pre_mcp_call",
        key=key,
        route=route.name if route is not None else "",
        tool=f"{server}__{tool}",
    )
