"""pre_mcp_call: the guardrails with that mode check a tool call's arguments before the
tool runs and the texts it returned after (``hooks.McpGuard``), on ``/mcp``, hosted MCP
tools and route-attached servers.

What applies: for a hosted call within a chat request, what the request's guardrail run
resolved (the ``default_on`` ones, the key's and its team's, the route's, the request's
own), its verdicts noted with the request's (one journal row); otherwise (``/mcp``) the
``default_on`` ones and the key's and its team's, the verdicts noted on the call's own
row. Arguments are checked as one JSON text: a rewrite that no longer parses as a JSON
object refuses the call rather than sending the tool something else."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import orjson

from gateway.access import registry
from gateway.base.entries import GuardrailEntry, KeyEntry, RouteEntry, Snapshot
from gateway.base.errors import GuardrailBlocked
from gateway.features.guardrails import engine
from gateway.features.guardrails.kinds import Context
from gateway.features.guardrails.plane import Run, applicable


def _entries(
    snapshot: Snapshot, key: KeyEntry | None, route: RouteEntry | None
) -> list[GuardrailEntry]:
    if key is not None:
        found = applicable(snapshot, key, route, [])
    else:  # no caller known (a loop run outside the pipeline): the default ones, the route's
        names = dict.fromkeys(snapshot.default_guardrails)
        if route is not None:
            names.update(dict.fromkeys(route.guardrails))
        found = [snapshot.guardrails[n] for n in names if n in snapshot.guardrails]
    return [e for e in found if "pre_mcp_call" in e.modes]


class McpGuardrails:
    """The one ``hooks.McpGuard``."""

    def begin(
        self,
        key: KeyEntry | None,
        server: str,
        tool: str,
        *,
        route: RouteEntry | None = None,
        call: Any = None,
        record: Any = None,
    ) -> Check | None:
        run = getattr(call, "guard", None) if call is not None else None
        name = f"{server}__{tool}"
        if isinstance(run, Run):  # the chat request's guardrails: its notes, its row
            if not run.mcp:
                return None
            context = dataclasses.replace(run.context("request", "pre_mcp_call"), tool=name)
            return Check(run.mcp, context, run.notes, None)
        snapshot = registry.current()
        if not snapshot.guardrails:
            return None
        entries = _entries(snapshot, key, route)
        if not entries:
            return None
        context = Context(
            input_type="request",
            mode="pre_mcp_call",
            key=key,
            route=route.name if route is not None else "",
            request_id=getattr(getattr(call, "caller", None), "request_id", "") or "",
            tool=name,
        )
        if record is None and call is not None:
            record = call.record
        return Check(entries, context, engine.Notes(), record)


class Check:
    """One tool call's checks (``hooks.McpCheck``). ``record``: the journal record whose
    ``guardrails`` are set from ``notes`` after each check (None: the request's own
    guardrail run notes them when it finishes)."""

    def __init__(
        self,
        entries: Sequence[GuardrailEntry],
        context: Context,
        notes: engine.Notes,
        record: Any,
    ) -> None:
        self.entries, self.context, self.notes, self.record = entries, context, notes, record

    async def _run(self, texts: list[str], input_type: str) -> list[str]:
        context = dataclasses.replace(self.context, input_type=input_type)  # type: ignore[arg-type]
        try:
            return await engine.run(self.entries, texts, context, self.notes)
        finally:
            if self.record is not None:
                self.record.guardrails = self.notes.as_list() or None

    async def check_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        text = orjson.dumps(arguments).decode()
        checked = await self._run([text], "request")
        if checked[0] == text:
            return arguments
        try:
            rewritten = orjson.loads(checked[0])
        except orjson.JSONDecodeError:
            rewritten = None
        if not isinstance(rewritten, dict):
            raise GuardrailBlocked(
                f"a guardrail rewrote the arguments of {self.context.tool} into invalid JSON; "
                "the call was refused",
                guardrail=", ".join(e.name for e in self.entries),
            )
        return rewritten

    async def check_result(self, texts: list[str]) -> list[str]:
        if not any(texts):
            return texts
        return await self._run(texts, "response")
