"""The loop of one request's tools that the gateway runs on the model's behalf: hosted
MCP tools (``gateway.features.mcp.hosted``) and server tools such as web search
(``gateway.features.server_tools``) are each a ``Toolset`` of it, and a request that
has both runs both in the one loop.

The model is offered each toolset's tools as function tools beside the client's own;
each upstream turn is a non-streamed canonical call (``complete``: routed, retried and
counted like any call). The gateway runs the model's calls to its tools, adds each call
and its result to the conversation and asks again, until the model answers, calls one
of the client's own tools or a call waits on the client (an approval): the client's
turn. A toolset withdraws its tools when its limit is reached, and the model answers
without them; a call to them on a turn that offered none of the gateway's tools is a
502. Each step is a ``Hosted`` item the client's codec renders in its own shapes; a
streamed client gets each when it happens (``events``), then the answer replayed as
canonical events. The loop runs in one task (the MCP SDK's sessions must open and close
in one task).

The features register as extra jobs of the chat job (``ToolJob``): the first asks every
one for its toolset, so their order in ``hooks.extra_jobs`` is the order of the tools."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from gateway.access import registry
from gateway.base import hooks
from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.errors import GatewayError, UpstreamError
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    ErrorEvent,
    FinishReason,
    Hosted,
    HostedItem,
    McpItem,
    Message,
    Start,
    StreamEvent,
    Text,
    Tool,
    ToolCall,
    ToolResult,
    Usage,
)
from gateway.core import cache
from gateway.core.cache import replay

if TYPE_CHECKING:
    from gateway.core.call import Reply, StreamReply
    from gateway.core.jobs import ChatJob

log = logging.getLogger(__name__)

Complete = Callable[[ChatRequest], Awaitable[ChatResponse]]
Step = Callable[[Hosted], Awaitable[None]]
TOKENS = [
    f"{kind}_tokens" for kind in ("input", "output", "cache_read", "cache_write", "reasoning")
]


class Toolset:
    """The tools of one feature for one request; what a set does not need has a default."""

    cleared = ""  # the request's field naming these tools, left empty in each turn
    # the journal row's tool calls (``Record.mcp_calls``), filled as they run: one list
    # the runner gives each of its toolsets
    notes: list[dict[str, Any]]

    def opened(self) -> contextlib.AbstractAsyncContextManager[Any]:
        """What the set holds open while the loop runs (MCP: its server connections)."""
        return contextlib.nullcontext()

    async def offer(self, step: Step) -> tuple[list[Tool], list[Message]]:
        """The function tools offered to the model, and the turns to add to the
        conversation before the first (MCP: the calls the client approved, run)."""
        raise NotImplementedError

    def owns(self, name: str) -> bool:
        raise NotImplementedError

    def withdrawn(self, turn: int) -> bool:
        """Whether its tools are offered no more from upstream turn ``turn`` (0: the first)."""
        return False

    async def run(self, call: ToolCall, step: Step) -> ToolResult | None:
        """Run the model's ``call``, its steps told to ``step``: the result the model
        reads, or None when the call waits on the client (an approval request)."""
        raise NotImplementedError

    def count(self, usage: Usage) -> None:
        """Add what the set counts to the answer's usage (server tools: their uses)."""


class Runner:
    """``run`` returns the final canonical response, its steps (``hosted``) in order and
    the usage summed over every upstream turn."""

    def __init__(
        self,
        request: ChatRequest,
        complete: Complete,
        toolsets: Sequence[Toolset],
        *,
        inline_text: bool = False,
        watch: Callable[[Hosted], None] | None = None,
    ) -> None:
        self.request, self.complete, self.toolsets = request, complete, list(toolsets)
        self.notes: list[dict[str, Any]] = []
        for toolset in self.toolsets:
            toolset.notes = self.notes
        # the client's API has no place for text between tool calls (Chat Completions,
        # Gemini): it joins the final message, in order, instead of a ``message`` step
        self.inline_text = inline_text
        self.said: list[str] = []
        # told of each step as it happens (the console playground); with inline_text,
        # also of the text said before calls (a ``message`` item that is no step)
        self.watch = watch
        self.items: list[Hosted] = []
        self.usage = Usage()

    async def run(self, emit: Step | None = None) -> ChatResponse:
        try:
            return await self._run(emit)
        except GatewayError as error:
            # cut short (a budget refusal of a priced tool call, a turn that failed): what
            # the turns so far used still counts, in the journal and against the budget
            if getattr(error, "usage", None) is None and self.usage.total_tokens:
                error.usage = self.usage  # type: ignore[attr-defined]
            raise

    async def _run(self, emit: Step | None) -> ChatResponse:
        async def step(item: Hosted) -> None:
            self.items.append(item)
            self._tell(item)
            if emit is not None:
                await emit(item)

        async with contextlib.AsyncExitStack() as held:
            tools, messages = list(self.request.tools), list(self.request.messages)
            for toolset in self.toolsets:
                await held.enter_async_context(toolset.opened())
                offered, before = await toolset.offer(step)
                tools += offered
                messages += before
            cleared: dict[str, Any] = {toolset.cleared: [] for toolset in self.toolsets}
            turn = -1
            while True:
                turn += 1
                offering = [t for t in tools if not self._withdrawn(t.name, turn)]
                request = dataclasses.replace(
                    self.request, messages=messages, tools=offering, stream=False, **cleared
                )
                if not offering:
                    request.tool_choice = None
                response = await self.complete(request)
                for name in TOKENS:  # summed over the turns
                    added = getattr(self.usage, name) + getattr(response.usage, name)
                    setattr(self.usage, name, added)
                ours = [c for c in response.tool_calls() if self._owner(c.name) is not None]
                if not ours:
                    return self._final(response, response.parts)
                if not any(self._owner(t.name) is not None for t in offering):
                    raise UpstreamError(f"the model called {ours[0].name}, no longer offered")
                theirs = [p for p in response.parts if not (isinstance(p, ToolCall) and p in ours)]
                said = "".join(p.text for p in theirs if isinstance(p, Text))
                if said.strip():  # what the model said before its calls, in its place
                    item = McpItem("message", "msg_" + secrets.token_hex(12), "", output=said)
                    if self.inline_text:
                        self.said.append(said)
                        # not a step of the answer (the text goes into it), but the
                        # watcher learns where the calls fall between its paragraphs
                        self._tell(item)
                    else:
                        await step(item)
                calls, results, waiting = [], [], False
                for call in ours:
                    owner = self._owner(call.name)
                    assert owner is not None
                    result = await owner.run(call, step)
                    if result is None:
                        waiting = True
                        continue
                    calls.append(dataclasses.replace(call, id=result.call_id))
                    results.append(result)
                if waiting or any(isinstance(p, ToolCall) for p in theirs):
                    # the client's turn: approve, or run its own function calls (it
                    # sends back the whole history, the gateway's steps included)
                    reason: FinishReason = (
                        "tool_calls" if any(isinstance(p, ToolCall) for p in theirs) else "stop"
                    )
                    kept = [
                        p
                        for p in theirs
                        if isinstance(p, ToolCall) or not (waiting or isinstance(p, Text))
                    ]
                    final = self._final(response, kept)
                    final.finish_reason = reason
                    return final
                spoken = [p for p in theirs if not isinstance(p, ToolCall)]
                messages = [
                    *messages,
                    Message("assistant", [*spoken, *calls]),
                    Message("user", list(results)),
                ]

    def _owner(self, name: str) -> Toolset | None:
        return next((toolset for toolset in self.toolsets if toolset.owns(name)), None)

    def _withdrawn(self, name: str, turn: int) -> bool:
        owner = self._owner(name)
        return owner is not None and owner.withdrawn(turn)

    def _tell(self, item: Hosted) -> None:
        if self.watch is not None:
            try:
                self.watch(item)
            except Exception:
                log.warning("watching a tool step failed", exc_info=True)

    def _final(self, response: ChatResponse, parts: list[Any]) -> ChatResponse:
        if self.said:  # the text between tool calls, before the answer (inline_text)
            earlier = "\n\n".join(text.strip() for text in self.said)
            first_text = next((p for p in parts if isinstance(p, Text)), None)
            parts = list(parts)
            if first_text is None:
                parts.insert(0, Text(earlier))
            else:
                parts[parts.index(first_text)] = Text(earlier + "\n\n" + first_text.text)
        for toolset in self.toolsets:
            toolset.count(self.usage)
        return ChatResponse(
            id=response.id,
            model=response.model,
            parts=list(parts),
            finish_reason=response.finish_reason,
            stop_sequence=response.stop_sequence,
            usage=self.usage,
            created=response.created,
            hosted=list(self.items),
        )


async def events(runner: Runner, request: ChatRequest) -> AsyncIterator[StreamEvent]:
    """The loop as canonical stream events: ``Start``, each step as a ``HostedItem``
    when it happens, then the answer's parts, usage and finish (or an ``ErrorEvent``).
    Closing the iterator (the client left) cancels the loop."""
    queue: asyncio.Queue[Any] = asyncio.Queue()

    async def emit(item: Hosted) -> None:
        queue.put_nowait(HostedItem(item))

    async def main() -> None:
        try:
            queue.put_nowait(await runner.run(emit))
        except GatewayError as error:
            queue.put_nowait(ErrorEvent(error))
        except Exception as exc:
            log.exception("the tool loop failed")
            queue.put_nowait(ErrorEvent(GatewayError(f"internal error ({type(exc).__name__})")))

    task = asyncio.create_task(main())
    try:
        yield Start("", request.model, int(time.time()))
        while True:
            got = await queue.get()
            if isinstance(got, ChatResponse):
                for event in replay.events(got)[1:]:
                    yield event
                return
            yield got
            if isinstance(got, ErrorEvent):
                return
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


class ToolJob:
    """An extra job of the chat job (``hooks.extra_jobs``) answered by this loop. The
    first registered asks every one for its ``toolset`` (which may refuse the request by
    raising, and complete it first); any toolset found makes the loop the answer."""

    async def toolset(self, job: ChatJob, route: RouteEntry) -> Toolset | None:
        raise NotImplementedError

    async def takes(self, job: ChatJob, route: RouteEntry) -> bool:
        jobs = [extra for extra in hooks.extra_jobs if isinstance(extra, ToolJob)] or [self]
        if jobs[0] is not self:
            return False  # the first asked this one too
        job.toolsets = [t for extra in jobs if (t := await extra.toolset(job, route))]
        return bool(job.toolsets)

    async def respond(self, job: ChatJob, route: RouteEntry) -> Reply | StreamReply:
        return await respond(job, route, job.toolsets)


async def respond(
    job: ChatJob, route: RouteEntry, toolsets: Sequence[Toolset]
) -> Reply | StreamReply:
    """Answer with the loop, each upstream turn routed and retried like any call; one
    journal row with every turn's usage and the tool calls (the toolsets' notes)."""
    # the pipeline's modules, here and not at the top: the features' plugins import this
    # module (``ToolJob``) in every process's ``ready``, management commands included
    from gateway.core.call import Reply, StreamReply
    from gateway.core.jobs import check_unmapped_params
    from gateway.core.pumps import pump_translated
    from gateway.core.upstream import UpstreamCall
    from gateway.routing import routing

    call, snapshot = job.call, registry.current()
    if call.cache is not None:  # an answer made with tools is not replayed from cache
        cache.abandon(call.cache)
        call.cache = None
    call.answer_keeper = None  # nor kept by an answer cache

    async def turn(request: ChatRequest) -> ChatResponse:
        async def attempt(route: RouteEntry, deployment: DeploymentEntry) -> ChatResponse:
            adapter = job.begin(route, deployment)
            check_unmapped_params(request, route, adapter, deployment)
            prepared = UpstreamCall.prepare(
                request, adapter, route, deployment, held_ceiling=job.held_ceiling(deployment)
            )
            if prepared.notes:  # what any turn lost (the journal's lossiness note)
                call.record.translation = prepared.notes
            return await prepared.complete(call.attempt_exchange)

        return await routing.run(snapshot, job.plan(route), attempt, call.record.attempts, job.key)

    assert job.request is not None
    inline = not call.client.renders_hosted
    runner = Runner(job.request, turn, toolsets, inline_text=inline, watch=call.caller.watch_mcp)
    call.record.mcp_calls = runner.notes  # filled as the loop runs, read at finish
    guard = call.guard  # the request's guardrails read the loop's answer as any other
    if job.stream:
        events_ = events(runner, job.request)
        if guard is not None:
            events_ = guard.stream(events_)
        first = await anext(events_)
        if guard is not None:
            await guard.gate()  # during_call's verdict before the answer's head
        chunks = pump_translated(call, job.request, first, events_)
        return StreamReply(200, call.headers(b"text/event-stream"), chunks)
    response = await runner.run()
    if guard is not None:
        response = await guard.after(response)
    rendered = call.client.render_response(response, job.request)
    if call.state is not None and call.state.keeps:
        await call.state.keep(rendered)
    payload = orjson.dumps(rendered)
    call.capture_outbound(payload)
    call.finish(status=200, usage=response.usage, finish_reason=response.finish_reason)
    return Reply(200, payload, call.headers())
