"""Background Responses (``background: true`` on ``POST /v1/responses``): answered at
once with status ``queued``, run later by whichever serving process claims the
response, followed with ``GET /v1/responses/{id}`` (and ``?stream=true&starting_after=N``),
stopped with ``POST /v1/responses/{id}/cancel``.

The invariant: a response that was queued runs to an end (completed, incomplete, failed
or cancelled) even if the process running it dies. A ``BackgroundResponse`` row holds
the request; a runner per serving process (``hooks.background_tasks``) claims one with
a lease (``gateway.base.leased_runner.LeasedRunner``, the batch runner's loop too) and
renews it every second,
reading the status there (a cancel from any process is seen within a second; one from
this process at once). A process that dies lets its lease run out and the next claim
runs the response again from the start: the events its lost run stored after
``response.queued`` are deleted, as are the items it added to a conversation, and a
stream following it ends with an ``error`` event (``response_restarted``) so the client
reads it again from the beginning instead of joining two runs' deltas.

The run is a request like any other: ``service.handle`` under the response's key
(routing, rate limits, the budget hold, guardrails, the journal), streamed, told the
response's id (``Caller.background_id``) so the stored response and the conversation
(``state.Turn``) carry it. The edge hands a create to ``submit`` before the pipeline
(``hooks.deferred_requests``, registered by this feature's plugin). Every event is stored as it is produced
(``BackgroundEvent``, written in small batches), numbered from 0 (``response.queued``)
with no gap, so a reader resumes after any number it saw and follows live until the
response ends.

Failure modes: a run refused before its stream (a 4xx or 5xx reply) ends ``failed``
with the error; a stream that ends in ``error`` or ``response.failed`` too. A run
whose process is shutting down (a 503 while closing) is left for the next process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from datetime import timedelta
from typing import Any

import orjson
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.access import authorization, registry
from gateway.base import db_work, lifecycle
from gateway.base.background import woken
from gateway.base.entries import MASTER, KeyEntry
from gateway.base.errors import InvalidRequest, PermissionDenied
from gateway.base.leased_runner import LeasedRunner
from gateway.codecs.openai_responses import inbound
from gateway.core import service
from gateway.core.call import Caller, Reply, StreamReply
from gateway.features.responses import conversations, state
from gateway.models import BackgroundEvent, BackgroundResponse, StoredResponse

log = logging.getLogger(__name__)

LEASE_SECONDS = float(os.environ.get("SWITCHYARD_BACKGROUND_LEASE_SECONDS", "10"))
FOLLOW_POLL_SECONDS = 0.2  # how often a stream follower on another process looks
FLUSH_SECONDS = 0.1  # events are written at least this often while a run streams
FLUSH_EVENTS = 64
USER_AGENT = "switchyard-background"
FINAL_EVENTS = {
    "response.completed": "completed",
    "response.incomplete": "incomplete",
    "response.failed": "failed",
}

_news: dict[str, set[asyncio.Event]] = {}  # followers in this process, woken by a flush


def concurrency() -> int:
    limit: int = settings.SWITCHYARD_BACKGROUND_CONCURRENCY
    return limit


def wake() -> None:
    """Look for work now (a response was just queued in this process); the runner not
    started yet (``hooks.BackgroundTask.jobs``) starts on it."""
    RUNNER.wake()


def _notify(response_id: str) -> None:
    for event in _news.get(response_id, ()):
        event.set()


def sse(event: dict[str, Any]) -> bytes:
    return (
        b"event: " + str(event.get("type")).encode() + b"\ndata: " + orjson.dumps(event) + b"\n\n"
    )


# --- creating ---------------------------------------------------------------------------------


def _not_found(response_id: str) -> state.ResponseNotFound:
    return state.ResponseNotFound(
        f"Response with id {response_id[:80]!r} not found.", code="response_not_found"
    )


def _queued_object(
    response_id: str, body: dict[str, Any], headers: Mapping[str, str]
) -> dict[str, Any]:
    """The response object as queued, echoing the request (which is validated here, so a
    body the run would refuse is a 400 now)."""
    probe = {k: v for k, v in body.items() if k not in ("background", "conversation")}
    if isinstance(probe.get("input"), list) and not probe["input"]:
        probe["input"] = ""
    request = inbound.parse_request(probe, headers)
    request.echo["background"] = True
    conversation = state.conversation_of(body)
    if conversation is not None:
        request.echo["conversation"] = {"id": conversation}
    now = int(time.time())
    shell = {"id": response_id, "object": "response", "created_at": now, "status": "queued"}
    return inbound.conform({**shell, "output": [], "usage": None}, request)


def _insert(row: Any, event: dict[str, Any]) -> None:
    with transaction.atomic():
        BackgroundResponse.objects.bulk_create([row])
        BackgroundEvent.objects.create(response=row, sequence=0, data=orjson.dumps(event).decode())


async def submit(
    raw: bytes | bytearray, headers: Mapping[str, str], caller: Caller
) -> Reply | StreamReply | None:
    """``POST /v1/responses`` with ``background: true``: queue it and answer the queued
    response (or, with ``stream: true``, follow its events from the first). None: not a
    background request (served as any request is)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None  # the pipeline says what is wrong with it
    if not isinstance(body, dict) or not body.get("background"):
        return None
    key = caller.key
    assert key is not None  # the edge refused a caller without a usable key
    if body["background"] is not True:
        raise InvalidRequest("background must be a boolean", param="background")
    if body.get("store") is False:
        raise InvalidRequest("background responses need store: true", param="store")
    model = body.get("model")
    route = registry.current().routes.get(model) if isinstance(model, str) else None
    if route is not None and not (allowed := authorization.decide(key, "route.call", route)):
        raise PermissionDenied(allowed.reason)
    conversation = state.conversation_of(body)
    if conversation is not None:
        await db_work.arun(conversations.owned, conversation, key)
    response_id = f"resp_{uuid.uuid4().hex}"
    queued = _queued_object(response_id, body, headers)
    stream = body.get("stream") is True
    run_body = {k: v for k, v in body.items() if k != "background"}
    run_body["stream"] = True  # the run's events are what is stored
    row = BackgroundResponse(
        id=response_id,
        key_id=key.id,
        body=run_body,
        user_agent=(caller.user_agent or USER_AGENT)[:300],
        session=(headers.get("x-switchyard-session") or caller.session)[:200],
        response=queued,
        events=1,
    )
    first = {"type": "response.queued", "response": queued, "sequence_number": 0}
    await db_work.arun(_insert, row, first)
    wake()
    rid = caller.request_id.encode()
    if stream:
        head = [(b"content-type", b"text/event-stream"), (b"x-request-id", rid)]
        return StreamReply(200, head, follow(response_id, key, None))
    return Reply(
        200, orjson.dumps(queued), [(b"content-type", b"application/json"), (b"x-request-id", rid)]
    )


# --- reading, cancelling, deleting --------------------------------------------------------------


def _owned(response_id: str, key: KeyEntry) -> Any:
    row = BackgroundResponse.objects.filter(id=response_id[:80]).first()
    if row is None or not authorization.decide(key, "response.use", row):
        return None
    return row


async def retrieve(response_id: str, key: KeyEntry) -> dict[str, Any] | None:
    """The background response's object as it stands, or None when there is no
    background response by that id for the key."""
    row = await db_work.arun(_owned, response_id, key)
    return None if row is None else dict(row.response)


async def exists(response_id: str, key: KeyEntry) -> bool:
    return await db_work.arun(_owned, response_id, key) is not None


def _cancel(response_id: str, key: KeyEntry) -> dict[str, Any] | None:
    row = _owned(response_id, key)
    if row is None:
        stored = StoredResponse.objects.filter(id=response_id[:80]).first()
        if stored is not None and authorization.decide(key, "response.use", stored):
            raise InvalidRequest("Only responses created with background=true can be cancelled.")
        return None
    if row.status in BackgroundResponse.UNFINISHED:
        response = {**row.response, "status": "cancelled", "completed_at": None}
        done = BackgroundResponse.objects.filter(
            id=row.id, status__in=BackgroundResponse.UNFINISHED
        ).update(status="cancelled", response=response, finished_at=timezone.now())
        if done:
            return response
        row.refresh_from_db()
    if row.status != "cancelled":
        raise InvalidRequest(f"Cannot cancel a response with status {row.status!r}.")
    return dict(row.response)  # cancelled already: the same answer again


async def cancel(response_id: str, key: KeyEntry) -> dict[str, Any]:
    """``POST /v1/responses/{id}/cancel``: a queued or running background response ends
    ``cancelled`` (a run in this process stops at once, elsewhere within a second);
    cancelling again answers the same; a finished one is a 400."""
    response = await db_work.arun(_cancel, response_id, key)
    if response is None:
        raise _not_found(response_id)
    task = RUNNER.running.get(response_id)
    if task is not None:
        task.cancel()
    _notify(response_id)
    return response


def _delete(response_id: str, key: KeyEntry) -> bool:
    row = _owned(response_id, key)
    if row is None:
        return False
    row.delete()
    return True


async def delete(response_id: str, key: KeyEntry) -> bool:
    """Delete a background response (a run under way stops); False: none by that id."""
    deleted: bool = await db_work.arun(_delete, response_id, key)
    if deleted and (task := RUNNER.running.get(response_id)) is not None:
        task.cancel()
    return deleted


# --- following the events ------------------------------------------------------------------------


def _read_events(response_id: str, after: int) -> tuple[list[str], str, int, int] | None:
    """Events after ``after`` (at most 500), and the row's status, attempt and count."""
    state = (
        BackgroundResponse.objects.filter(id=response_id)
        .values_list("status", "attempt", "events")
        .first()
    )
    if state is None:
        return None
    data = list(
        BackgroundEvent.objects.filter(response_id=response_id, sequence__gt=after)
        .order_by("sequence")
        .values_list("data", flat=True)[:500]
    )
    return data, state[0], state[1], state[2]


async def follow(
    response_id: str, key: KeyEntry, starting_after: int | None
) -> AsyncIterator[bytes]:
    """The response's events after ``starting_after`` (all of them: None), as stored,
    then live until it ends; ``data: [DONE]`` last."""
    last = -1 if starting_after is None else starting_after
    news = asyncio.Event()
    _news.setdefault(response_id, set()).add(news)
    attempt: int | None = None
    try:
        while True:
            news.clear()
            found = await db_work.arun(_read_events, response_id, last)
            if found is None:  # deleted meanwhile
                break
            data, status, run, count = found
            if attempt is not None and run != attempt and last > 0:
                error = {
                    "type": "error",
                    "code": "response_restarted",
                    "message": "the response's run was lost with its process and started "
                    "again; read it again from the beginning",
                    "param": None,
                    "sequence_number": last + 1,
                }
                yield sse(error)
                break
            attempt = run
            for text in data:
                last += 1
                yield b"event: " + _event_type(text) + b"\ndata: " + text.encode() + b"\n\n"
            if data:
                continue
            if status in BackgroundResponse.FINAL and last + 1 >= count:
                break
            await woken(news, FOLLOW_POLL_SECONDS)
        yield b"data: [DONE]\n\n"
    finally:
        followers = _news.get(response_id)
        if followers is not None:
            followers.discard(news)
            if not followers:
                del _news[response_id]


def _event_type(text: str) -> bytes:
    start = text.find('"type":"')
    if start < 0:
        return b"message"
    end = text.find('"', start + 8)
    return text[start + 8 : end].encode()


# --- the runner ------------------------------------------------------------------------------------


def key_for(key_id: int | None) -> KeyEntry | None:
    """The response's key as the registry has it now (None: deleted since)."""
    if key_id is None:
        return MASTER
    return registry.current().key_by_id(key_id)


def _start(pk: str) -> Any:
    """Mark the claimed response in progress (a lost run's leftovers removed first): the
    row, or None when it is not ours to run any more."""
    with transaction.atomic():
        row = BackgroundResponse.objects.select_for_update().filter(pk=pk).first()
        if row is None or row.status not in BackgroundResponse.UNFINISHED:
            return None
        if row.runner != RUNNER.runner_id:
            return None
        if row.attempt > 0:  # a run before this one was lost with its process
            BackgroundEvent.objects.filter(response_id=pk, sequence__gt=0).delete()
            conversations.forget_turn(pk)
        row.attempt += 1
        row.events = 1
        row.status = "in_progress"
        row.response = {**row.response, "status": "in_progress"}
        row.save(update_fields=["attempt", "events", "status", "response"])
    return row


def _flush(
    pk: str, first: int, events: list[dict[str, Any]], snapshot: dict[str, Any] | None
) -> bool:
    """Store ``events`` (numbered from ``first``) while the response is still ours and
    running; False when it is not (cancelled, deleted, or claimed by another)."""
    fields: dict[str, Any] = {"events": first + len(events)}
    if snapshot is not None:
        fields["response"] = snapshot
    with transaction.atomic():
        ours = BackgroundResponse.objects.filter(
            pk=pk, runner=RUNNER.runner_id, status="in_progress"
        ).update(**fields)
        if not ours:
            return False
        BackgroundEvent.objects.bulk_create(
            BackgroundEvent(response_id=pk, sequence=first + i, data=orjson.dumps(e).decode())
            for i, e in enumerate(events)
        )
    return True


def _finish(pk: str, status: str, response: dict[str, Any]) -> None:
    ours = BackgroundResponse.objects.filter(pk=pk, runner=RUNNER.runner_id, status="in_progress")
    ours.update(status=status, response=response, finished_at=timezone.now())


class _Run:
    """One run of a claimed response: its events renumbered and stored as they come."""

    def __init__(self, row: Any) -> None:
        self.pk: str = row.id
        self.snapshot: dict[str, Any] = dict(row.response)
        self.next = 1  # 0 is response.queued
        self.pending: list[dict[str, Any]] = []
        self.changed = False
        self.last_flush = time.monotonic()
        self.final: tuple[str, dict[str, Any]] | None = None
        self.lost = False

    def own(self, response: dict[str, Any]) -> None:
        response["id"] = self.pk
        response["background"] = True

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("type")
        response = event.get("response")
        if isinstance(response, dict):
            self.own(response)
            self.snapshot = response
            self.changed = True
            if kind in FINAL_EVENTS:
                self.final = (FINAL_EVENTS[str(kind)], response)
        elif kind == "error":
            message = event.get("message") or (event.get("error") or {}).get("message")
            code = event.get("code") or (event.get("error") or {}).get("code") or "server_error"
            failed = {**self.snapshot, "status": "failed"}
            failed["error"] = {"code": str(code), "message": str(message or "the run failed")}
            self.final = ("failed", failed)
        event["sequence_number"] = self.next
        self.next += 1
        self.pending.append(event)

    async def flush(self, force: bool = False) -> None:
        due = len(self.pending) >= FLUSH_EVENTS or (
            time.monotonic() - self.last_flush >= FLUSH_SECONDS
        )
        if not self.pending or not (force or due):
            return
        first = self.next - len(self.pending)
        snapshot = self.snapshot if self.changed else None
        events, self.pending, self.changed = self.pending, [], False
        self.last_flush = time.monotonic()
        if not await db_work.arun(_flush, self.pk, first, events, snapshot):
            self.lost = True
            raise asyncio.CancelledError
        _notify(self.pk)

    async def fail(self, error: dict[str, Any]) -> None:
        failed = {**self.snapshot, "status": "failed", "error": error}
        self.add({"type": "response.failed", "response": failed})
        await self.flush(force=True)


def _events(buffer: bytearray) -> list[dict[str, Any]]:
    """Complete SSE events taken from the front of ``buffer`` (their JSON data)."""
    out: list[dict[str, Any]] = []
    while True:
        end = buffer.find(b"\n\n")
        if end < 0:
            return out
        block, buffer[: end + 2] = bytes(buffer[:end]), b""
        for line in block.split(b"\n"):
            if line.startswith(b"data:"):
                payload = line[5:].strip()
                if payload == b"[DONE]" or not payload:
                    continue
                with contextlib.suppress(orjson.JSONDecodeError):
                    event = orjson.loads(payload)
                    if isinstance(event, dict):
                        out.append(event)


def _error_of(reply: Reply) -> dict[str, Any]:
    try:
        error = orjson.loads(reply.body).get("error") or {}
    except (orjson.JSONDecodeError, AttributeError):
        error = {}
    code = error.get("code") or error.get("type") or "server_error"
    message = error.get("message") or f"the run failed with status {reply.status}"
    return {"code": str(code), "message": str(message)}


async def _run(row: Any) -> None:
    run = _Run(row)
    key = key_for(row.key_id)
    caller = Caller(
        key=key, user_agent=row.user_agent or USER_AGENT, session=row.session, background_id=row.id
    )
    if key is None:
        caller.key_error = "the response's API key no longer exists"
    headers = {"user-agent": caller.user_agent}
    if row.session:
        headers["x-switchyard-session"] = row.session
    reply = await service.handle("chat", "responses", orjson.dumps(row.body), headers, caller)
    if isinstance(reply, Reply):
        if reply.status == 503 and lifecycle.closing():
            run.lost = True  # left for the next process: the lease is released below
            return
        await run.fail(_error_of(reply))
        await db_work.arun(_finish, run.pk, "failed", run.snapshot)
        return
    buffer = bytearray()
    try:
        async for chunk in reply.chunks:
            buffer += chunk
            for event in _events(buffer):
                run.add(event)
            await run.flush()
    finally:
        await service.close_quietly(reply.chunks)
    if run.final is None:
        await run.fail({"code": "server_error", "message": "the stream ended before the response"})
    await run.flush(force=True)
    assert run.final is not None
    status, response = run.final
    await db_work.arun(_finish, run.pk, status, response)


def _watch(work: asyncio.Task[None]) -> Any:
    """What the response's lease tells (``LeasedRunner.leased``): cancelled, deleted or
    claimed by another (its status no longer ``in_progress``, or the lease lost) stops
    the run."""

    def on_status(status: str | None) -> bool:
        if status != "in_progress":
            work.cancel()
            return True
        return False

    return on_status


async def run_claimed(pk: str) -> None:
    """Run a response this process holds the lease of (``RUNNER`` releases it after)."""
    try:
        row = await db_work.arun(_start, pk)
        if row is None:
            return
        _notify(pk)
        work = asyncio.current_task()
        assert work is not None
        async with RUNNER.leased(pk, _watch(work)):
            await _run(row)
    except asyncio.CancelledError:
        if lifecycle.closing():
            raise  # the process is going away: the next claim runs it again
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()  # cancelled (or lost its lease): stopped, nothing more to do
    except Exception:
        log.exception("background response %s failed", pk)
        with contextlib.suppress(Exception):
            error = {"code": "server_error", "message": "internal error"}
            await db_work.arun(
                _finish, pk, "failed", {"id": pk, "status": "failed", "error": error}
            )
    finally:
        _notify(pk)


def _room() -> bool:
    return len(RUNNER.running) < concurrency()


async def run_forever() -> None:
    """The per-process loop (``LeasedRunner.run_forever``): claim, run, repeat. Never
    raises (a database that is down or not migrated yet is retried)."""
    await RUNNER.run_forever()


RUNNER = LeasedRunner(
    "background", BackgroundResponse, run_claimed, lease_seconds=LEASE_SECONDS, room=_room
)


# --- retention ---------------------------------------------------------------------------------------


def prune_expired(max_batches: int) -> int:
    """Finished background responses (and their events) older than
    ``SWITCHYARD_RESPONSES_RETENTION_DAYS`` (0: kept), with the journal's pruning."""
    days = settings.SWITCHYARD_RESPONSES_RETENTION_DAYS
    if not days:
        return 0
    old = BackgroundResponse.objects.filter(
        status__in=BackgroundResponse.FINAL,
        created_at__lt=timezone.now() - timedelta(days=days),
    )
    return db_work.delete_in_batches(old, state.PRUNE_BATCH, max_batches)
