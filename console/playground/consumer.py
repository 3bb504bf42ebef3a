"""The playground's WebSocket: for console users whose role may use the playground
(gateway/access/roles.py). The page sends
``run`` (a new comparison), ``continue`` (a follow-up to every column of one) and
``stop``; the socket answers with ``comparison``, ``tick`` (new text and live metrics
of every running column), ``column_done``, ``turn_done`` and ``error`` messages.

Every turn runs as the signed-in user: their console key for the team the message names
(``team``: a team id, "" for no team, absent for their default), so the key's, the
team's and the user's limits and the route team check apply and the journal names the
key (``gateway.access.console_keys``). A refusal by the service (budget spent, a route
of another team) is the column's error and one journal row."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from console.models import Comparison
from console.playground import spec as specs
from console.playground.run import ColumnRun, TurnRun
from gateway.access import authorization, console_keys, registry, roles
from gateway.base import lifecycle
from gateway.base.entries import KeyEntry

FORBIDDEN = 4403


def usable_mcp_servers(actor: roles.Actor) -> list[str]:
    """The enabled registered MCP servers the actor may attach to playground columns."""
    if not roles.may_use_mcp_servers(actor):
        return []
    servers = registry.current().mcp_servers
    return sorted(name for name, entry in servers.items() if entry.enabled)


def is_staff(user: Any) -> bool:
    """Whether ``user``'s role may use the playground (the name predates roles)."""
    return bool(authorization.decide(roles.actor_for_user(user), "socket.connect", "playground"))


class PlaygroundConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self) -> None:
        self.user = self.scope.get("user")
        if not await database_sync_to_async(is_staff)(self.user):
            await self.close(code=FORBIDDEN)
            return
        await lifecycle.ensure_started()
        self.turn: TurnRun | None = None
        self.turn_task: asyncio.Task[None] | None = None
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self._cancel_turn()

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        action = content.get("action") if isinstance(content, dict) else None
        try:
            if action == "stop":
                if self.turn is not None:
                    self.turn.stop()
                return
            if self.turn_task is not None and not self.turn_task.done():
                raise specs.SpecError("a run is in progress: stop it first")
            if action not in ("run", "continue"):
                raise specs.SpecError(f"unknown action {action!r}")
            key = await self._key(content.get("team"))
            if action == "run":
                comparison = await self._create(content.get("spec"))
                await self._start_turn(comparison, 0, key)
            else:
                followup = content.get("followup", content.get("message"))
                comparison, turn = await self._add_followup(content.get("comparison"), followup)
                await self._start_turn(comparison, turn, key)
        except (specs.SpecError, console_keys.ConsoleIdentityRefused) as exc:
            await self.send_json({"type": "error", "message": str(exc)})

    # --- turns ----------------------------------------------------------------------------

    async def _start_turn(self, comparison: Comparison, turn: int, key: KeyEntry) -> None:
        columns = []
        shared = specs.parse_params(comparison.params, "shared parameters")
        for index, spec in enumerate(comparison.columns):
            params = specs.parse_params(spec.get("params"), f"column {index + 1}").over(shared)
            history = specs.column_history(
                comparison.messages, comparison.followups, comparison.results, index, turn
            )
            body = specs.build_body(
                spec["dialect"], spec["route"], comparison.system, history, params, comparison.tools
            )
            column = ColumnRun(index, spec["route"], spec["dialect"], body)
            column.mcp_servers = tuple(spec.get("mcp_servers") or ())
            columns.append(column)
        await self.send_json(
            {
                "type": "comparison",
                "id": comparison.pk,
                "turn": turn,
                "blind": comparison.blind,
                "user_message": specs.followup_text(comparison.followups[turn - 1])
                if turn
                else specs.opening_text(history),
                "user_messages": [
                    specs.followup_text(comparison.followups[turn - 1], i)
                    for i in range(len(columns))
                ]
                if turn
                else [],
                "attachments": [f["name"] for f in history[-1].get("attachments") or []]
                if not turn
                else [],
                "columns": [self._column_head(comparison, i) for i in range(len(columns))],
            }
        )
        self.turn = TurnRun(columns, self.send_json, blind=comparison.blind)
        self.turn_task = asyncio.create_task(self._run_turn(comparison, turn, self.turn, key))

    def _column_head(self, comparison: Comparison, index: int) -> dict[str, Any]:
        spec = comparison.columns[index]
        head = {"index": index, "label": specs.label(index)}
        if not comparison.blind:
            head.update(route=spec["route"], dialect=spec["dialect"], params=spec.get("params"))
        return head

    async def _run_turn(
        self, comparison: Comparison, turn: int, run: TurnRun, key: KeyEntry
    ) -> None:
        user_agent = dict(self.scope.get("headers") or []).get(b"user-agent", b"").decode()
        try:
            await run.run(key, f"playground; {user_agent}"[:300])
        finally:
            results = [column.result() for column in run.columns]
            await self._save_results(comparison.pk, turn, results)
            with contextlib.suppress(Exception):
                await self.send_json({"type": "turn_done", "id": comparison.pk, "turn": turn})

    async def _cancel_turn(self) -> None:
        task = getattr(self, "turn_task", None)
        if task is not None and not task.done():
            if self.turn is not None:
                self.turn.stop()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    # --- the database -----------------------------------------------------------------------

    @database_sync_to_async
    def _key(self, team: Any) -> KeyEntry:
        """The key this user's runs are made (and journaled) with, for ``team``."""
        return console_keys.key_for(self.user.pk, console_keys.parse_team(team), "playground.use")

    @database_sync_to_async
    def _create(self, raw: Any) -> Comparison:
        actor = roles.actor_for_user(self.user)

        def usable(name: str) -> Any:  # a route limited to other teams is not offered
            route = registry.current().route(name)
            return route if route is not None and roles.may_use_route(actor, route) else None

        servers = usable_mcp_servers(actor)
        spec = specs.parse_spec(raw, route_exists=usable, mcp_usable=servers.__contains__)
        columns = specs.blind_order(spec.columns) if spec.blind else spec.columns
        last = spec.messages[-1]
        first = specs.opening_text(spec.messages) or ", ".join(
            f["name"] for f in last.get("attachments") or []
        )
        comparison: Comparison = Comparison.objects.create(
            created_by=self.user,
            title=first[:200],
            system=spec.system,
            messages=spec.messages,
            params=spec.params.as_dict(),
            tools=spec.tools,
            columns=[c.as_dict() for c in columns],
            blind=spec.blind,
            replay_of=spec.replay_of,
        )
        return comparison

    @database_sync_to_async
    def _add_followup(self, comparison_id: Any, message: Any) -> tuple[Comparison, int]:
        """``message``: text for every column, or {"message", "tool_results": {column:
        [{"call_id", "content"}]}} answering the tool calls of the last turn."""
        mine = roles.visible_comparisons(roles.actor_for_user(self.user), Comparison.objects)
        comparison = mine.filter(pk=comparison_id).first()
        if comparison is None:
            raise specs.SpecError("that comparison no longer exists")
        turn = len(comparison.followups) + 1
        if len(comparison.results) < turn:
            raise specs.SpecError("the previous turn has not finished")
        followup = specs.parse_followup(message, comparison.results[turn - 1])
        comparison.followups = [*comparison.followups, followup]
        comparison.save(update_fields=["followups"])
        return comparison, turn

    @database_sync_to_async
    def _save_results(self, pk: int, turn: int, results: list[dict[str, Any]]) -> None:
        comparison = Comparison.objects.filter(pk=pk).first()
        if comparison is None:
            return
        saved = list(comparison.results)
        while len(saved) <= turn:
            saved.append([])
        saved[turn] = results
        comparison.results = saved
        comparison.save(update_fields=["results"])
