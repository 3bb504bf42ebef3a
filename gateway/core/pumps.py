"""The chunks a client reads from a stream: a translated stream's canonical events
rendered by the client codec (``pump_translated``, batched with ``ready_batches``), a
passed-through one relayed with its model renamed (``pump_passthrough``); ``_Tap``
watches the events for the journal (first token, usage, finish, the reasoning ledger)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import Any, cast

import orjson
from django.conf import settings

from gateway.base import lifecycle
from gateway.base.errors import (
    GatewayError,
    ShuttingDown,
)
from gateway.base.streaming import EventBatches, StreamFolder
from gateway.base.types import (
    CONTENT_DELTAS,
    ChatRequest,
    ChatResponse,
    StreamEvent,
    TextDelta,
)
from gateway.codecs.base import StreamRendering
from gateway.core import (
    cache,
    reasoning_ledger,
)
from gateway.core.call import (
    SHUTDOWN_CUT,
    Call,
)
from gateway.core.ready_batches import Resume, abandon, ready_batches

log = logging.getLogger(__name__)
# How long a translated stream's first rendered event may wait for the ones ready
# behind it before they go on together (gateway.core.ready_batches).
BATCH_WINDOW = 0.0001


async def prompt_count(counting: asyncio.Future[int]) -> int | None:
    """The prompt count started before the upstream call; None if counting failed (the
    stream goes on without it)."""
    try:
        return await counting
    except Exception:
        log.warning("counting the prompt's tokens failed", exc_info=True)
        return None


def model_rewriter(upstream: str, public: str) -> Callable[[bytes], bytes] | None:
    """Rewrite the upstream model id to the public name in passthrough stream events
    (a substring test per event; only events naming the model are touched)."""
    if upstream == public:
        return None
    old, new = orjson.dumps(upstream), orjson.dumps(public)
    pairs = [(b'"model":' + old, b'"model":' + new), (b'"model": ' + old, b'"model": ' + new)]

    def rewrite(raw: bytes) -> bytes:
        if old in raw:
            for before, after in pairs:
                raw = raw.replace(before, after)
        return raw

    return rewrite


class _Tap:
    """Watches canonical events on their way out: first-token time, usage, finish."""

    def __init__(self, call: Call) -> None:
        self.call = call
        # text is folded only for the response cache, and only so much of it
        keep = settings.SWITCHYARD_MAX_ANSWER_BYTES if call.keeps_answer else 0
        self.folder = StreamFolder(max_chars=keep)
        self.rendered_first_token = False  # the renderer is past the first content event
        # signed reasoning and tool-call ids, for the ledger (translated streams only)
        self.reasoning: reasoning_ledger.StreamReasoning | None = None

    def see(self, event: StreamEvent) -> None:
        if self.call.first_token is None and isinstance(event, CONTENT_DELTAS):
            self.call.first_token = time.perf_counter()
        self.folder.feed(event)
        if self.reasoning is not None and isinstance(event, reasoning_ledger.FED_EVENTS):
            self.reasoning.feed(event)  # (25 calls a stream saved: most events are text)

    async def share_reasoning(self) -> None:
        """Record the answer's signed reasoning before its end goes out: the next turn,
        on any worker, finds it (``reasoning_ledger.shared``). Once: ``close`` then
        records nothing."""
        reasoning, key, self.reasoning = self.reasoning, self.call.caller.key, None
        if reasoning is not None and key is not None and self.folder.error is None:
            await reasoning_ledger.shared(reasoning.record(key))

    def close(self, disconnected: bool) -> None:
        folder = self.folder
        error = cast("BaseException | None", folder.error)  # an ErrorEvent's: a GatewayError
        status = 200
        if disconnected and error is None and lifecycle.was_cut():
            error, disconnected = ShuttingDown(SHUTDOWN_CUT), False  # ended by the drain
        if error is not None:
            status = getattr(error, "status", 502)
        elif disconnected:
            status = 499
        elif self.call.keeps_answer and folder.finished and not folder.truncated:
            keep_in_cache(self.call, folder.result())
        if error is None and self.reasoning is not None and self.call.caller.key is not None:
            self.reasoning.record(self.call.caller.key)  # (a stream cut before its finish)
        if self.call.span is not None:  # the upstream's names, from its stream's start
            self.call.response_id = folder.response.id
            self.call.response_model = folder.response.model
        usage = folder.response.usage
        spent = getattr(error, "usage", None)  # a tool loop cut short: its turns' usage
        if spent is not None and not usage.total_tokens:
            usage = spent
        self.call.finish(
            status=status,
            usage=usage,
            finish_reason=folder.response.finish_reason if folder.finished else "",
            error=error
            if error is not None
            else (GatewayError("client disconnected") if disconnected else None),
            disconnected=disconnected,
        )


async def _events(
    tap: _Tap, first: StreamEvent, iterator: AsyncIterator[StreamEvent]
) -> AsyncIterator[StreamEvent]:
    tap.see(first)
    yield first
    tap.rendered_first_token = tap.call.first_token is not None
    async for event in iterator:
        tap.see(event)
        yield event
        # asked for the next event: everything up to this one has been rendered
        tap.rendered_first_token = tap.call.first_token is not None


def pump_translated(
    call: Call, request: ChatRequest, first: StreamEvent, iterator: AsyncIterator[StreamEvent]
) -> AsyncIterator[bytes]:
    """The client's chunks of a translated stream: each upstream read's events rendered
    in one loop when the stream comes in batches (``EventBatches``) and the dialect has
    a ``StreamRendering``, else through the dialect's ``render_stream``."""
    tap = _Tap(call)
    tap.reasoning = reasoning_ledger.StreamReasoning()
    rendering = call.client.stream_renderer
    if rendering is not None and isinstance(iterator, EventBatches):
        return _pump_batches(call, tap, rendering(request), first, iterator)
    return _pump_events(call, tap, request, first, iterator)


async def _pump_batches(
    call: Call, tap: _Tap, renderer: StreamRendering, first: StreamEvent, iterator: EventBatches
) -> AsyncIterator[bytes]:
    """``_pump_events`` without generators between the upstream's parser and the
    renderer: the events of one upstream read are seen by the tap and rendered in one
    loop, and what they make goes on as one chunk, joined with the next read's when that
    is ready without waiting (the stream's end), cut as ``ready_batches`` cuts (after
    the first token; every ``BATCH_WINDOW`` of a long burst)."""
    disconnected = True
    batches = iterator.batches()
    step: Any = None  # a batch's __anext__ under way, suspended at ``pending``
    pending: Any = None
    held: list[bytes] = []  # rendered, not written yet
    try:
        events = [first, *iterator.take_ready()]
        while True:
            for chunk in _rendered(tap, renderer, events, held):
                yield await _kept(call, chunk, tap)
            if renderer.ended:
                break
            step = batches.__anext__()
            try:
                pending = step.send(None)
            except StopIteration as done:  # the next read was there already
                step, events = None, done.value
                continue
            except StopAsyncIteration:
                step = None
                held += renderer.end()
                break
            except BaseException:
                step = None
                if held:  # what came before the failure goes first
                    yield await _kept(call, _joined(held), tap)
                raise
            if held:  # it has to wait: what is rendered goes first
                yield await _kept(call, _joined(held), tap)
            try:
                events = await Resume(step, pending)
            except StopAsyncIteration:
                held += renderer.end()
                break
            finally:
                step = None
        if held:
            yield await _kept(call, _joined(held), tap)
        disconnected = False
    except GatewayError as error:  # a renderer refusing mid-stream: tell the client
        disconnected = False
        yield _refused(call, tap, error)
    finally:
        if step is not None:
            await abandon(step, pending)
        await close_quietly(iterator)
        tap.close(disconnected)


def _rendered(
    tap: _Tap, renderer: StreamRendering, events: list[StreamEvent], held: list[bytes]
) -> Iterator[bytes]:
    """``events`` seen by the tap and rendered into ``held``; what must go at once is
    yielded (and ``held`` emptied): up to the first token, and a long burst every
    ``BATCH_WINDOW``."""
    clock = time.perf_counter
    since = clock()
    fold, call = tap.folder.feed, tap.call
    for event in events:
        if type(event) is TextDelta and call.first_token is not None:
            fold(event)  # all the tap does with more text once the first token is timed
        else:
            tap.see(event)
        held += renderer.feed(event)
        if renderer.ended:
            return
        if not tap.rendered_first_token and tap.call.first_token is not None:
            tap.rendered_first_token = True  # the first token goes at once
        elif clock() - since < BATCH_WINDOW:
            continue
        if held:
            yield _joined(held)
        since = clock()


async def _kept(call: Call, chunk: bytes, tap: _Tap) -> bytes:
    """``chunk`` captured for the journal and kept for a stored response, on its way;
    an answer that called tools has its reasoning shared before its end goes."""
    reasoning = tap.reasoning
    if reasoning is not None and reasoning.calls and tap.folder.finished:
        await tap.share_reasoning()
    call.capture_outbound(chunk)
    await call.keep_response(chunk)
    return chunk


def _refused(call: Call, tap: _Tap, error: GatewayError) -> bytes:
    """The in-stream error of a renderer that refused an event mid-stream (journaled)."""
    tap.folder.error = error
    chunk = call.client.render_stream_error(error)
    call.capture_outbound(chunk)
    return chunk


def _joined(chunks: list[bytes]) -> bytes:
    chunk = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    chunks.clear()
    return chunk


async def _pump_events(
    call: Call,
    tap: _Tap,
    request: ChatRequest,
    first: StreamEvent,
    iterator: AsyncIterator[StreamEvent],
) -> AsyncIterator[bytes]:
    disconnected = True
    rendered = call.client.render_stream(_events(tap, first, iterator), request)
    # What the renderer makes of one upstream read goes on as one chunk (one capture,
    # one send), not an event at a time; a long burst in pieces of at most 100 us, and
    # the first token (the tap saw it) at once.
    batches = ready_batches(
        cast("AsyncGenerator[bytes, None]", rendered),  # every codec's is an async generator
        window=BATCH_WINDOW,
        hand_on_when=lambda: tap.rendered_first_token,
    )
    try:
        async for chunks in batches:
            yield await _kept(call, _joined(chunks), tap)
        disconnected = False
    except GatewayError as error:  # a renderer refusing mid-stream: tell the client
        disconnected = False
        yield _refused(call, tap, error)
    finally:
        await close_quietly(batches)
        await close_quietly(rendered)
        await close_quietly(iterator)
        tap.close(disconnected)


async def pump_passthrough(
    call: Call,
    first: tuple[bytes, list[StreamEvent]],
    iterator: AsyncIterator[tuple[bytes, list[StreamEvent]]],
    rewrite: Callable[[bytes], bytes] | None,
) -> AsyncIterator[bytes]:
    tap = _Tap(call)
    disconnected = True
    try:
        raw, events = first
        for event in events:
            tap.see(event)
        raw = rewrite(raw) if rewrite else raw
        call.capture_outbound(raw)
        await call.keep_response(raw)
        yield raw
        async for raw, events in iterator:
            for event in events:
                tap.see(event)
            if raw:  # a hidden usage-only chunk leaves only its events
                raw = rewrite(raw) if rewrite else raw
                call.capture_outbound(raw)
                await call.keep_response(raw)
                yield raw
        disconnected = False
    finally:
        await close_quietly(iterator)
        tap.close(disconnected)


async def close_quietly(iterator: Any) -> None:
    closer = getattr(iterator, "aclose", None)
    if closer is not None:
        with contextlib.suppress(Exception):
            await closer()


def keep_in_cache(call: Call, response: ChatResponse) -> None:
    """Store a successful answer in the exact cache and hand it to the answer cache that
    asked for it (``call.answer_keeper``); each is used up (one answer per request)."""
    ticket, call.cache = call.cache, None
    if ticket is not None:
        cache.keep(ticket, response)
    keeper, call.answer_keeper = call.answer_keeper, None
    if keeper is not None and response.finish_reason != "error":
        keeper(response)
