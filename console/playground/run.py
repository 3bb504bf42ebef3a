"""Running one playground turn: every column streams through ``gateway.core.service.handle``
(the same path as the public API: authenticated, limited, routed, retried, journaled,
marked from_playground) at the same time. Text is coalesced and sent to the page in
ticks, so six fast columns cost the socket ~20 messages a second, not one per token."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast

import orjson

from console.playground.stream import TranscriptReader, error_message
from gateway.access import registry
from gateway.base.entries import KeyEntry
from gateway.core import service
from gateway.telemetry.attribution import SESSION_HEADER

TICK_SECONDS = 0.05
MIN_RATE_SECONDS = 0.05  # tokens/s only over at least this much generation time
Send = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(slots=True)
class ColumnRun:
    """One column on one turn, from the request it sends to its final metrics."""

    index: int
    route: str
    dialect: str
    body: dict[str, Any]
    reader: TranscriptReader = field(init=False)
    state: str = "waiting"  # waiting | streaming | done | error | stopped
    started: float = 0.0
    first_token: float | None = None
    finished: float | None = None
    status: int = 0
    request_id: str = ""
    deployment: str = ""
    error: str = ""
    pending: str = ""  # text read but not yet sent to the page
    mcp_servers: tuple[str, ...] = ()  # registered MCP servers attached (hosted loop)
    mcp_calls: list[dict[str, Any]] = field(default_factory=list)  # the tool calls run
    mcp_sent: int = 0  # how many of them the page has
    mcp_said: list[str] = field(default_factory=list)  # the text said before the calls

    def __post_init__(self) -> None:
        self.reader = TranscriptReader(self.dialect)

    def metrics(self, now: float | None = None) -> dict[str, Any]:
        fold = self.reader.fold
        end = self.finished or now or time.perf_counter()
        total_ms = (end - self.started) * 1000 if self.started else None
        ttft_ms = (self.first_token - self.started) * 1000 if self.first_token else None
        tokens_per_sec = None
        # a rate needs time to measure: an answer that came in one piece (a 0 ms
        # generation) read "14037.1 tokens/s"
        if self.first_token and end - self.first_token >= MIN_RATE_SECONDS:
            # Until the usage arrives, count content chunks (about one token each).
            produced = fold.output_tokens or fold.content_chunks
            tokens_per_sec = round(produced / (end - self.first_token), 1)
        return {
            "ttft_ms": round(ttft_ms, 1) if ttft_ms is not None else None,
            "total_ms": round(total_ms, 1) if total_ms is not None else None,
            "tokens_per_sec": tokens_per_sec,
            "input_tokens": fold.input_tokens,
            "output_tokens": fold.output_tokens,
            "cost_usd": str(self.cost()) if self.finished else None,
            "unpriced": bool(self.finished) and not self.priced(),
            "status": self.status,
            "finish_reason": fold.finish_reason,
        }

    def priced(self) -> bool:
        """Whether the deployment that answered has a price (else its $0 means "no price
        known", not "free": the column says "unpriced")."""
        route = registry.current().route(self.route)
        for deployment in route.deployments if route else ():
            if deployment.label == self.deployment:
                return bool(deployment.input_price or deployment.output_price)
        return True

    def cost(self) -> Any:
        """USD at the prices of the deployment that answered (from the snapshot)."""
        route = registry.current().route(self.route)
        for deployment in route.deployments if route else ():
            if deployment.label == self.deployment:
                return deployment.cost(self.reader.fold)
        return 0

    def mcp_step(self, item: Any) -> None:
        """A hosted MCP step (``gateway.base.types.McpItem``) as the column shows it: each
        tool call with its arguments and result, and a server that could not list.
        Each call keeps where it falls in the answer (``at``: the length of the text
        said before it, which the gateway puts in the answer, joined by blank lines)."""
        if item.kind == "message":
            self.mcp_said.append(item.output or "")
        elif item.kind == "call" or (item.kind == "list_tools" and item.error):
            self.mcp_calls.append(
                {
                    "server": item.server,
                    "name": item.name or "tools/list",
                    "arguments": item.arguments if item.kind == "call" else "",
                    "output": item.output,
                    "error": item.error,
                    "at": len(PARAGRAPH.join(said.strip() for said in self.mcp_said)),
                }
            )

    def parts(self) -> list[dict[str, Any]]:
        """The answer in order: text, call, text (``answer_parts``)."""
        return answer_parts(self.reader.fold.text, self.mcp_calls)

    def result(self) -> dict[str, Any]:
        """What is saved in Comparison.results for this column and turn."""
        fold = self.reader.fold
        return {
            "route": self.route,
            "dialect": self.dialect,
            "state": self.state,
            "text": fold.text,
            "thinking": fold.thinking,
            "tool_calls": fold.tool_calls,
            "mcp_calls": self.mcp_calls,
            "parts": self.parts(),
            "error": self.error or fold.error,
            "request_id": self.request_id,
            "deployment": self.deployment,
            "metrics": self.metrics(),
            "request": self.body,
            "transcript": self.reader.transcript.decode(errors="replace"),
        }


PARAGRAPH = "\n\n"  # how the gateway joins the text said around hosted MCP calls


def answer_parts(text: str, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The answer's text cut where each MCP call ran, the calls in their places:
    ``[{"type": "text", "text": ...}, {"type": "mcp", **call}, ...]``. A call whose
    place does not fit the text (none recorded, or past its end) goes where the one
    before it went (the first: above the text). The blank line the gateway put between
    two pieces of text is dropped where a call now stands: joined by ``PARAGRAPH``,
    the text parts give ``text`` back."""
    parts: list[dict[str, Any]] = []
    start = 0
    for call in calls:
        at = call.get("at")
        if isinstance(at, int) and start <= at <= len(text):
            if text[start:at]:
                parts.append({"type": "text", "text": text[start:at]})
            start = at + len(PARAGRAPH) if text.startswith(PARAGRAPH, at) else at
        parts.append({"type": "mcp", **{k: v for k, v in call.items() if k != "at"}})
    if text[start:] or not any(p["type"] == "text" for p in parts):
        parts.append({"type": "text", "text": text[start:]})
    return parts


def _header(headers: service.Headers, name: bytes) -> str:
    for key, value in headers:
        if key == name:
            return value.decode(errors="replace")
    return ""


async def run_column(
    column: ColumnRun, key: KeyEntry, user_agent: str, *, session: str = ""
) -> None:
    """Stream one column to the end (or until cancelled: the upstream is closed).
    ``key``: the console key of the user it runs as; ``session`` tags its journal row (an
    experiment's, a scoring run's)."""
    column.started = time.perf_counter()
    column.state = "streaming"
    caller = service.Caller(
        key=key,
        from_playground=True,
        user_agent=user_agent,
        mcp_servers=column.mcp_servers,
        watch_mcp=column.mcp_step if column.mcp_servers else None,
        session=session,
    )
    headers = {SESSION_HEADER: session} if session else {}
    try:
        reply = await service.handle(
            "chat", column.dialect, orjson.dumps(column.body), headers, caller
        )
        column.status = reply.status
        column.request_id = _header(reply.headers, b"x-request-id") or caller.request_id
        column.deployment = _header(reply.headers, b"x-switchyard-deployment")
        if isinstance(reply, service.Reply):
            column.reader.feed(reply.body)
            column.error = error_message(reply.body, column.dialect) if reply.status >= 400 else ""
        else:
            try:
                async for chunk in reply.chunks:
                    shown = column.reader.feed(chunk)
                    if column.first_token is None and column.reader.fold.content_chunks:
                        column.first_token = time.perf_counter()
                    column.pending += shown
                column.pending += column.reader.close()
            finally:
                # the service's pumps are async generators (StreamReply says iterator)
                await cast(AsyncGenerator[bytes, None], reply.chunks).aclose()
        column.error = column.error or column.reader.fold.error
        column.state = "error" if column.error else "done"
    except asyncio.CancelledError:
        column.state = "stopped"
        raise
    except Exception as exc:  # never let one column's bug stop the others
        column.state, column.error = "error", f"{type(exc).__name__}: {exc}"
    finally:
        column.finished = time.perf_counter()


class TurnRun:
    """All columns of one turn, streaming at once, reported to ``send``."""

    def __init__(self, columns: list[ColumnRun], send: Send, *, blind: bool) -> None:
        self.columns = columns
        self.send = send
        self.blind = blind
        self.tasks: list[asyncio.Task[None]] = []

    def public(self, column: ColumnRun) -> dict[str, Any]:
        """What the page may see of a column (blind mode: nothing that names it)."""
        data: dict[str, Any] = {"index": column.index, "state": column.state}
        if self.blind:
            # Speed, token counts and cost tell models apart as surely as a name: none
            # of them until the vote (the saved result keeps them for the reveal).
            data["metrics"] = {}
        else:
            data["metrics"] = column.metrics()
            data["request_id"] = column.request_id
            data["deployment"] = column.deployment
        return data

    async def run(self, key: KeyEntry, user_agent: str) -> None:
        self.tasks = [
            asyncio.create_task(run_column(c, key, user_agent), name=f"playground-{c.index}")
            for c in self.columns
        ]
        reported: set[int] = set()
        try:
            while len(reported) < len(self.columns):
                await asyncio.wait(self.tasks, timeout=TICK_SECONDS)
                await self._tick(reported)
        finally:
            for task in self.tasks:
                task.cancel()
            for task in self.tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def _tick(self, reported: set[int]) -> None:
        now = time.perf_counter()
        live = []
        for column in self.columns:
            if column.index in reported:
                continue
            text, column.pending = column.pending, ""
            data = self.public(column)
            if not self.blind:
                data["metrics"] = {**data["metrics"], **_live_only(column, now)}
            data["text"] = text
            if len(column.mcp_calls) > column.mcp_sent:  # new tool calls since the last tick
                data["mcp_calls"] = column.mcp_calls
                column.mcp_sent = len(column.mcp_calls)
            live.append(data)
        if live:
            await self.send({"type": "tick", "columns": live})
        for column, task in zip(self.columns, self.tasks, strict=True):
            if task.done() and column.index not in reported:
                reported.add(column.index)
                await self.send({"type": "column_done", **self._final(column)})

    def _final(self, column: ColumnRun) -> dict[str, Any]:
        fold = column.reader.fold
        data = self.public(column)
        data.update(
            text=fold.text,
            thinking=fold.thinking,
            tool_calls=fold.tool_calls,
            mcp_calls=column.mcp_calls,
            parts=column.parts(),
            error=column.error or fold.error,
        )
        return data

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()


def _live_only(column: ColumnRun, now: float) -> dict[str, Any]:
    """While running, the total is the time so far."""
    return {} if column.finished else {"total_ms": round((now - column.started) * 1000, 1)}
