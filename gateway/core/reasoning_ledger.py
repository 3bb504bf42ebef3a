"""The reasoning ledger: signed reasoning the gateway keeps so the next turn has it back.

Anthropic (and Bedrock Claude) sign their thinking blocks and, with thinking on, want the
assistant turn that called tools back with its signed thinking first; OpenAI's Responses
API hands out encrypted reasoning items for the same purpose. A client whose dialect has
no field for them (OpenAI chat's ``reasoning_content`` is text only, Gemini's thought
parts carry no Anthropic signature) loses them between turns, and the model either
refuses the turn or, as the Anthropic codec then turns thinking off, stops reasoning.

So after an upstream answer that calls tools with signed (or redacted, or encrypted)
reasoning, the gateway records that reasoning under each tool-call id, scoped to the
virtual key; before the next request goes upstream, an assistant turn that calls tools
but came back without signed reasoning gets it restored from the ledger by the ids of
its calls. Codecs then send only what their upstream can take (Anthropic and Bedrock
drop encrypted OpenAI reasoning, Gemini and chat upstreams drop signatures), so a
fallback to another model family never fails on reasoning it cannot read.

Gemini's ``thoughtSignature`` needs no entry: it rides in the tool-call id the gateway
makes (``codecs.gemini.ids``), which every client echoes and any worker can read.

Where it lives: an LRU in each worker, bounded in entries, bytes and time (TTL)
(``core/ledger_book.py``). With ``REDIS_URL`` set, entries are also written to Redis
(``sy:reason:<key id>:<call id>``, same TTL), and a local miss asks Redis once per
request (one MGET), so any worker of any instance can serve the next turn. Without
Redis, the workers of one ``serve --workers N`` share it the same way through the
supervisor's counter service (one ``ledger_put``, one ``ledger_get`` per request that
misses locally; the service's book has the same bounds). The answer's end waits for
that write (``shared``, at most ``REDIS_TIMEOUT``): a client sends its next turn as soon
as it has the answer, often to the other worker, which would otherwise ask the shared
store before the write got there and send the turn without its reasoning. Only an
answer that called tools with signed reasoning waits; a slow store's write goes on in
the background.
A single process, or another instance without Redis, has only its own: a turn that
finds nothing goes on without the reasoning (the Anthropic codec then turns thinking
off for that turn) rather than failing.

A tool loop without signed reasoning (a model that does not reason, thinking off) finds
nothing for any turn, and every request resends the whole loop: each turn would be asked
for again, hundreds a request late in an agent's loop. So a turn the shared store
answered nothing for is remembered as having none (per worker, bounded) and not asked
for again, except the newest assistant turn: its answer's reasoning may still be on its
way to the shared store when the next request reaches another worker. The newest turn is
asked for on every request that ends with it until ``NEWEST_GRACE`` seconds after its
first miss (a Redis write gives up after ``REDIS_TIMEOUT``, the counter service's client
after two seconds): a miss after that is as final as an older turn's (an agent's side
requests, a retry, a benchmark's one body again, resend the same newest turn).

And each request resends the whole loop, so walking it and looking each turn up, even
only in this worker, costs hundreds of steps a request late in an agent's loop. So a
worker also remembers where a loop is settled: a turn (by its first call id and its
place in ``messages``) such that it and every turn before it in its loop that wants
reasoning had none, here or shared. The next request's walk stops there. A settled
mark holds only while this worker's ledger has gained nothing for the key since (a
record, or a turn found shared): the only ways a turn remembered as absent could have
reasoning here.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import orjson
from django.conf import settings

from gateway.base import background
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Message,
    Part,
    PartStart,
    StreamEvent,
    Thinking,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    Turn,
    deferred_turns,
    messages_digest,
)
from gateway.core.ledger_book import Blob, Ledger
from gateway.limits import counters, limits

log = logging.getLogger(__name__)

REDIS_PREFIX = "sy:reason"
REDIS_TIMEOUT = 0.25  # seconds a restore waits for Redis (or the service) before a miss
# turns (scope, first call id) the shared store had nothing for, remembered per worker
ABSENT_ENTRIES = 20_000
# seconds after the newest turn's first miss that a miss is final (see the docstring)
NEWEST_GRACE = 3.0
clock = time.monotonic  # (tests move it)


def scope_of(key: Any) -> str:
    """The ledger scope of a virtual key: its id (``master`` for the master key)."""
    key_id = getattr(key, "id", None)
    return "master" if key_id is None else str(key_id)


def signed(part: Part) -> bool:
    """Reasoning a client must hand back as is: signed, redacted or encrypted."""
    return isinstance(part, Thinking) and bool(part.signature or part.redacted)


def blob_of(parts: Iterable[Part]) -> Blob:
    """The signed reasoning among ``parts``, in order."""
    return tuple(
        (p.text, p.signature, p.redacted)
        for p in parts
        if isinstance(p, Thinking) and (p.signature or p.redacted)
    )


# --- the worker's ledger and its Redis twin -------------------------------------------------

_ledger: Ledger | None = None
_absent: OrderedDict[tuple[str, str], None] = OrderedDict()
# newest turns (scope, first call id) the shared store had nothing for: when first missed
_newest_missed: OrderedDict[tuple[str, str], float] = OrderedDict()
# settled turns (scope, first call id) -> (their place in messages, the scope's generation)
_settled: OrderedDict[tuple[str, str], tuple[int, int]] = OrderedDict()
# scope -> its generation: bumped whenever this worker's ledger gains an entry for it
_gained: dict[str, int] = {}
_generations = itertools.count(1)


def ledger() -> Ledger:
    """This worker's ledger (made on first use from the settings)."""
    global _ledger
    if _ledger is None:
        _ledger = Ledger(
            settings.SWITCHYARD_REASONING_LEDGER_ENTRIES,
            settings.SWITCHYARD_REASONING_LEDGER_BYTES,
            settings.SWITCHYARD_REASONING_LEDGER_TTL,
        )
    return _ledger


def reset() -> None:
    """Forget everything (tests; a settings change)."""
    global _ledger
    _ledger = None
    _absent.clear()
    _newest_missed.clear()
    _settled.clear()
    _gained.clear()
    _redis.clients.clear()


class _Redis:
    """One client per event loop (a worker has one; tests make many)."""

    def __init__(self) -> None:
        self.clients: dict[int, tuple[asyncio.AbstractEventLoop, str, Any]] = {}
        self.warned = False

    def client(self) -> Any | None:
        url = getattr(settings, "REDIS_URL", "")
        if not url:
            return None
        loop = asyncio.get_running_loop()
        known = self.clients.get(id(loop))
        if known is None or known[0] is not loop or known[1] != url:
            import redis.asyncio as aioredis

            client = aioredis.Redis.from_url(
                url, socket_connect_timeout=REDIS_TIMEOUT, socket_timeout=REDIS_TIMEOUT
            )
            known = self.clients[id(loop)] = (loop, url, client)
        return known[2]

    def failed(self, what: str, exc: BaseException) -> None:
        """Log the first failure of an outage, then stay quiet until Redis answers."""
        if not self.warned:
            self.warned = True
            log.warning("reasoning ledger: Redis %s failed (%s); using this worker's", what, exc)

    def answered(self) -> None:
        if self.warned:
            self.warned = False
            log.info("reasoning ledger: Redis answers again")


_redis = _Redis()


def redis_key(scope: str, call_id: str) -> str:
    return f"{REDIS_PREFIX}:{scope}:{call_id}"


def _encode(blob: Blob) -> bytes:
    return orjson.dumps([list(item) for item in blob])


def _decode(raw: bytes) -> Blob | None:
    try:
        return _blob_from(orjson.loads(raw))
    except orjson.JSONDecodeError:
        return None


def _blob_from(items: Any) -> Blob | None:
    """A blob from its JSON form (a list of ``[text, signature, redacted]``)."""
    try:
        return tuple((str(t), s, r) for t, s, r in items) or None
    except (TypeError, ValueError):
        return None


def _counter_service() -> Any | None:
    """The supervisor's counter service, when this worker has one and there is no Redis."""
    if getattr(settings, "REDIS_URL", ""):
        return None
    backend = limits.shared_backend()
    return backend if isinstance(backend, counters.SharedCounters) else None


async def _store_in_service(service: Any, scope: str, call_ids: list[str], blob: Blob) -> None:
    try:
        await service.ask(
            "ledger_put",
            scope,
            call_ids,
            [list(item) for item in blob],
            settings.SWITCHYARD_REASONING_LEDGER_ENTRIES,
            settings.SWITCHYARD_REASONING_LEDGER_BYTES,
            settings.SWITCHYARD_REASONING_LEDGER_TTL,
        )
    except Exception as exc:  # the service is down: this worker still has them
        limits.note_failure(service, exc)


async def _store_shared(client: Any, scope: str, entries: list[tuple[str, Blob]]) -> None:
    ttl = max(1, int(settings.SWITCHYARD_REASONING_LEDGER_TTL))
    try:
        async with client.pipeline(transaction=False) as pipe:
            for call_id, blob in entries:
                pipe.set(redis_key(scope, call_id), _encode(blob), ex=ttl)
            await pipe.execute()
    except Exception as exc:  # Redis down: this worker still has them
        _redis.failed("write", exc)
    else:
        _redis.answered()


# --- record (after an answer) and restore (before the next request) -------------------------


def record(key: Any, call_ids: list[str], blob: Blob) -> asyncio.Task[None] | None:
    """Keep ``blob`` (one answer's signed reasoning) under each of its tool calls' ids.
    Memory now; the shared store (Redis, or the counter service) in a task, returned for
    ``shared`` to wait on before the answer's end goes out."""
    if not call_ids or not blob:
        return None
    scope = scope_of(key)
    book = ledger()
    for call_id in call_ids:
        book.put(scope, call_id, blob)
        _absent.pop((scope, call_id), None)
    gained(scope)
    client = _redis.client()
    if client is not None:
        return background.in_background(_store_shared(client, scope, [(c, blob) for c in call_ids]))
    if (service := _counter_service()) is not None:
        return background.in_background(_store_in_service(service, scope, list(call_ids), blob))
    return None


async def shared(write: asyncio.Task[None] | None) -> None:
    """Wait, at most ``REDIS_TIMEOUT``, for ``record``'s write to the shared store (see
    the module docstring); a slower one goes on without the answer waiting."""
    if write is not None and not write.done():
        await asyncio.wait((write,), timeout=REDIS_TIMEOUT)


def gained(scope: str) -> None:
    """This worker's ledger gained an entry for ``scope``: its settled marks lapse."""
    _gained[scope] = next(_generations)


def _remember(memory: OrderedDict[tuple[str, str], Any], key: tuple[str, str], value: Any) -> None:
    memory[key] = value
    if len(memory) > ABSENT_ENTRIES:
        memory.popitem(last=False)


def record_response(key: Any, response: ChatResponse) -> asyncio.Task[None] | None:
    """``record`` for a whole answer: its tool calls and its signed reasoning."""
    calls = [p.id for p in response.parts if isinstance(p, ToolCall)]
    return record(key, calls, blob_of(response.parts)) if calls else None


def _turns(request: ChatRequest) -> Iterator[Turn]:
    """Each message's ``Turn``, the last first: read off the wire messages while they
    are unbuilt (``DeferredChatRequest``: a guarded passthrough builds none), else off
    the built ones."""
    wire = deferred_turns(request)
    if wire is not None:
        return wire
    return _built_turns(request.messages)


def _built_turns(messages: list[Message]) -> Iterator[Turn]:
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        calls: list[str] = []
        results = reasoned = False
        for part in message.parts:
            if isinstance(part, ToolCall):
                calls.append(part.id)
            elif isinstance(part, ToolResult):
                results = True
            elif not reasoned and signed(part):
                reasoned = True
        yield index, message.role, calls, results, reasoned


def _wanting(request: ChatRequest, scope: str = "") -> tuple[list[tuple[int, list[str]]], int]:
    """Assistant turns of the current tool loop (after the caller's last own message)
    that call tools and came back without signed reasoning, by their place in
    ``messages``, down to a settled one of ``scope`` (left out, as every turn before
    it); and the newest assistant turn's place (-1: none wanted). Earlier loops are
    left as they are: every upstream validates, and uses, only the current loop's
    reasoning."""
    out: list[tuple[int, list[str]]] = []
    newest = -1
    generation = _gained.get(scope, 0)
    for index, role, calls, results, reasoned in _turns(request):  # hundreds, every request
        if role == "assistant":
            if newest < 0:
                newest = index
            if calls and not reasoned:
                if _settled.get((scope, calls[0])) == (index, generation):
                    break  # this turn and every one before it: nothing anywhere
                out.append((index, calls))
        elif role == "user" and not results:
            break  # the caller spoke (not a tool result): the loop before this is over
    return out, newest


def _restore_into(message: Message, blob: Blob) -> None:
    """Put the recorded reasoning first in the turn, in place of its unsigned thinking
    (the same text, which the client kept without its signature)."""
    kept = [p for p in message.parts if not isinstance(p, Thinking)]
    message.parts = [Thinking(t, signature=s, redacted=r) for t, s, r in blob] + kept


async def restore(key: Any, request: ChatRequest) -> int:
    """Restore recorded reasoning into ``request``'s assistant tool-call turns that lack
    it; returns how many turns got theirs back. A miss is no error: the turn goes on
    without (see the module docstring). The messages are built only when a turn's
    reasoning is found (an agent's loop of a model that does not reason finds none)."""
    scope = scope_of(key)
    wanting, newest = _wanting(request, scope)
    if not wanting:
        return 0
    book = ledger()
    restored = 0
    missing: list[tuple[int, list[str]]] = []
    for index, calls in wanting:
        blob = next((b for c in calls if (b := book.get(scope, c)) is not None), None)
        if blob is not None:
            _restore_into(request.messages[index], blob)
            restored += 1
        elif (scope, calls[0]) not in _absent:
            missing.append((index, calls))
    if not missing:
        if not restored:
            _settle(scope, wanting)
        return restored
    client = _redis.client()
    found: int | None = None
    if client is not None:
        found = await _restore_shared(client, scope, book, request, missing)
    elif (service := _counter_service()) is not None:
        found = await _restore_from_service(service, scope, book, request, missing)
    if found is None:  # no shared store, or it did not answer: nothing learnt
        return restored
    built = messages_digest(request) is None  # (unbuilt: nothing was restored into any)
    for index, calls in missing:
        if built and any(signed(p) for p in request.messages[index].parts):
            continue  # found shared
        if index != newest or _newest_final((scope, calls[0])):
            _remember(_absent, (scope, calls[0]), None)
    if not restored and not found:  # (a turn with reasoning is never settled)
        _settle(scope, wanting)
    return restored + found


def _newest_final(turn: tuple[str, str]) -> bool:
    """Whether the newest turn's miss is final: ``NEWEST_GRACE`` seconds after its
    first (its reasoning, were there any, has reached the shared store by then)."""
    first = _newest_missed.get(turn)
    if first is None:
        _remember(_newest_missed, turn, clock())
        return False
    if clock() - first < NEWEST_GRACE:
        return False
    del _newest_missed[turn]
    return True


def _settle(scope: str, wanting: list[tuple[int, list[str]]]) -> None:
    """Mark the newest of the oldest wanting turns remembered as absent (the walk
    stopped below them at the loop's start or at a settled turn) as settled. Called
    only when none of them had reasoning."""
    settled: tuple[int, list[str]] | None = None
    for turn in reversed(wanting):  # the oldest first
        if (scope, turn[1][0]) not in _absent:
            break
        settled = turn
    if settled is not None:
        index, calls = settled
        _remember(_settled, (scope, calls[0]), (index, _gained.get(scope, 0)))


async def _restore_from_service(
    service: Any,
    scope: str,
    book: Ledger,
    request: ChatRequest,
    missing: list[tuple[int, list[str]]],
) -> int | None:
    """One ``ledger_get`` for every turn this worker had nothing for (by its place in
    ``request.messages``): how many were restored (None: the service did not answer)."""
    try:
        reply = await asyncio.wait_for(
            service.ask("ledger_get", scope, [calls for _, calls in missing]), REDIS_TIMEOUT
        )
    except TimeoutError:  # a busy service, not a failed one: nothing is counted elsewhere
        return None
    except Exception as exc:
        limits.note_failure(service, exc)
        return None
    restored = 0
    for (index, calls), raw in zip(missing, reply[1], strict=True):
        blob = _blob_from(raw) if raw else None
        if blob:
            for call_id in calls:
                book.put(scope, call_id, blob)  # the next turn finds it here
            gained(scope)
            _restore_into(request.messages[index], blob)
            restored += 1
    return restored


async def _restore_shared(
    client: Any,
    scope: str,
    book: Ledger,
    request: ChatRequest,
    missing: list[tuple[int, list[str]]],
) -> int | None:
    """``_restore_from_service`` with Redis: one MGET."""
    names = [redis_key(scope, c) for _, calls in missing for c in calls]
    try:
        values = await asyncio.wait_for(client.mget(names), REDIS_TIMEOUT)
    except Exception as exc:
        _redis.failed("read", exc)
        return None
    _redis.answered()
    found = dict(zip(names, values, strict=True))
    restored = 0
    for index, calls in missing:
        for call_id in calls:
            raw = found.get(redis_key(scope, call_id))
            blob = _decode(raw) if raw else None
            if blob:
                book.put(scope, call_id, blob)  # the next turn finds it here
                gained(scope)
                _restore_into(request.messages[index], blob)
                restored += 1
                break
    return restored


# The events ``StreamReasoning.feed`` reads; the others need not reach it.
FED_EVENTS = (ThinkingDelta, PartStart)


class StreamReasoning:
    """Folds a translated stream's signed reasoning and tool-call ids as the events go by
    (the thinking text too: a signature covers it), for ``record`` at the stream's end."""

    __slots__ = ("calls", "thinking")

    def __init__(self) -> None:
        self.thinking: dict[int, list[Any]] = {}  # part index -> [texts, signature, redacted]
        self.calls: list[str] = []

    def feed(self, event: StreamEvent) -> None:
        if isinstance(event, ThinkingDelta):
            slot = self.thinking.get(event.index)
            if slot is None:
                slot = self.thinking[event.index] = [[], None, None]
            if event.text:
                slot[0].append(event.text)
            if event.signature:
                slot[1] = (slot[1] or "") + event.signature
            if event.redacted:
                slot[2] = event.redacted
        elif isinstance(event, PartStart) and event.kind == "tool_call" and event.tool_id:
            self.calls.append(event.tool_id)

    def blob(self) -> Blob:
        return tuple(
            ("".join(texts), signature, redacted)
            for _, (texts, signature, redacted) in sorted(self.thinking.items())
            if signature or redacted
        )

    def record(self, key: Any) -> asyncio.Task[None] | None:
        return record(key, self.calls, self.blob()) if self.calls else None
