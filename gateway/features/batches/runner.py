"""The batch runner: one per worker process (``gateway.base.hooks.background_tasks``, the
``worker`` role and ``all``), running gateway-executed batches in the background.

Claiming, as background Responses do (``gateway.base.leased_runner.LeasedRunner``: the
loop, the lease's renewal and its release): an unfinished batch whose lease is empty or
expired is taken with one conditional UPDATE (``lease_until`` still what we read), so
with ``serve --workers N`` or several instances each batch runs in exactly one process.
The holder renews the lease about every second and reads the batch's status (a
cancel is seen there); if it dies the lease runs out and another process, or the
restarted one, resumes the batch from its pending lines.

Running: each line goes through ``gateway.core.service.handle`` as the batch's key
(routing and the route's retries, rate limits, budgets, the journal: every row is
tagged with the batch id as its session and ``switchyard-batch`` as its user agent),
at most ``SWITCHYARD_BATCH_CONCURRENCY`` at once. A line's result is recorded with an
UPDATE conditional on the line having none yet, so a line that runs again after a
crash (its first result unsaved) gets one result, never two. A 429 (the key's rate
limit or an upstream's, after the route's retries) is tried again later, until the
completion window ends; then the lines left are expired. Output and error files are
written when every line has its result."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import secrets
from datetime import timedelta
from decimal import Decimal
from io import BytesIO
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from gateway import journal
from gateway.base import db_work, lifecycle
from gateway.base.entries import MASTER
from gateway.base.leased_runner import LeasedRunner
from gateway.core import service
from gateway.features.batches import holds, native, operations
from gateway.features.batches.files import api as files
from gateway.models.batches import Batch, BatchLine
from gateway.models.files import StoredFile

log = logging.getLogger(__name__)

LEASE_SECONDS = float(os.environ.get("SWITCHYARD_BATCH_LEASE_SECONDS", "15"))
MAX_BATCHES_PER_PROCESS = 4  # gateway-run batches (their lines are work here)
# Batches an upstream runs only need polling: they do not take the slots above.
MAX_NATIVE_PER_PROCESS = 200
USER_AGENT = "switchyard-batch"
EXPIRED = "This request could not be executed before the completion window expired."
CANCELLED = "This request was cancelled before it ran."

_native: set[str] = set()  # the batches RUNNER runs that an upstream runs (.native)
# cost of each batch line's request, by request id, from the journal (the journal
# prices it at the deployment's prices, as any request)
_costs: dict[str, tuple[Decimal, str]] = {}
# How gateway.limits.limits words a budget that is spent, or too small for the line's
# worst case (429s no wait will fix, unlike a rate limit or a budget held by requests
# in flight).
BUDGET_SPENT = ("is exhausted", "less than this request may cost")


def _note_cost(record: Any) -> None:
    if record.user_agent == USER_AGENT and record.request_id:
        if len(_costs) > 10_000:  # rows of lines cancelled mid-call are never read
            _costs.clear()
        _costs[record.request_id] = (record.cost_usd, record.error_message or "")


def _room() -> bool:
    """Whether this process takes one more batch: a slot for a gateway-run one, and
    polling for a native one (claimed before it is known which it is)."""
    here = len(RUNNER.running) - len(_native)
    return here < MAX_BATCHES_PER_PROCESS and len(_native) < MAX_NATIVE_PER_PROCESS


def wake() -> None:
    """Look for work now (a batch was just created or cancelled in this process); the
    runner not started yet (``hooks.BackgroundTask.jobs``) starts on it."""
    RUNNER.wake()


async def run_forever() -> None:
    """The per-process loop (``LeasedRunner.run_forever``): claim, run, repeat; the
    journal tells it each line's cost meanwhile. Never raises (a database that is down
    or not migrated yet is retried)."""
    journal.subscribe(_note_cost)
    try:
        await RUNNER.run_forever()
    finally:
        _native.clear()


# --- running one batch -------------------------------------------------------------------


def _start(pk: str) -> tuple[Batch, list[tuple[int, int, str, Any]]]:
    batch = Batch.objects.get(pk=pk)
    if batch.status == "validating":
        Batch.objects.filter(pk=pk, status="validating").update(
            status="in_progress", in_progress_at=timezone.now()
        )
        batch.refresh_from_db()
    pending = list(
        BatchLine.objects.filter(batch_id=pk, outcome="")
        .order_by("index")
        .values_list("id", "index", "custom_id", "body")
    )
    return batch, pending


def _record(
    line_id: int, outcome: str, status: int, request_id: str, response: Any, cost: Decimal
) -> bool:
    """Save a line's result unless it has one (True when this call saved it)."""
    return bool(
        BatchLine.objects.filter(id=line_id, outcome="").update(
            outcome=outcome,
            status_code=status,
            request_id=request_id,
            response=response,
            cost_usd=cost,
            finished_at=timezone.now(),
        )
    )


async def run_claimed(pk: str) -> None:
    """Run a batch this process holds the lease of (``RUNNER`` releases it after)."""
    outcome: list[str] = []
    try:
        batch, pending = await db_work.arun(_start, pk)
        stop = asyncio.Event()
        # a native batch keeps its lease while a cancel is forwarded and seen through
        async with RUNNER.leased(pk, _watch(stop, outcome, stop_on_cancel=not batch.native)):
            await _drive(batch, pending, stop, outcome)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("batch %s failed", pk)
        with contextlib.suppress(Exception):
            await db_work.arun(_fail, pk, f"{type(exc).__name__}: {exc}")
            await holds.release(pk)
    finally:
        _native.discard(pk)


async def _drive(
    batch: Batch, pending: list[tuple[int, int, str, Any]], stop: asyncio.Event, outcome: list[str]
) -> None:
    """Run the batch's lines here (or follow the upstream running it) and end it."""
    pk = batch.id
    if batch.native:
        _native.add(pk)
        final = await native.drive(batch, stop)
        if not final or outcome == ["lost"] or lifecycle.closing():
            return  # polling resumes in whichever runner claims it next
        if final.startswith("failed:"):
            await db_work.arun(_fail, pk, final.removeprefix("failed:"))
        else:
            await db_work.arun(_end, pk, final)
        await holds.release(pk)  # its real cost is counted: the estimate goes
        return
    if batch.status == "in_progress" and pending:
        await _run_lines(batch, pending, stop)
    if outcome == ["lost"] or lifecycle.closing():
        return  # another runner holds it now, or we are going away: it resumes
    await db_work.arun(_end, pk)


def _watch(stop: asyncio.Event, outcome: list[str], stop_on_cancel: bool) -> Any:
    """What the batch's lease tells (``LeasedRunner.leased``): lost to another runner,
    or cancelling (a gateway-run batch stops its lines; a native one forwards the cancel
    and keeps polling)."""

    def on_status(status: str | None) -> bool:
        if status is None or (status == "cancelling" and stop_on_cancel):
            outcome.append("lost" if status is None else "cancelling")
            stop.set()
            return True
        return False

    return on_status


async def _run_lines(
    batch: Batch, pending: list[tuple[int, int, str, Any]], stop: asyncio.Event
) -> None:
    endpoint, dialect = operations.SERVICE_CALL[batch.endpoint]
    key = native.key_for(batch)
    queue = list(reversed(pending))
    expires = batch.expires_at.timestamp()
    loop = asyncio.get_running_loop()
    wall_offset = timezone.now().timestamp() - loop.time()

    def over() -> bool:
        return stop.is_set() or lifecycle.closing() or loop.time() + wall_offset >= expires

    async def run_line(line_id: int, body: Any) -> None:
        raw = orjson.dumps(body)
        headers = {"x-switchyard-session": batch.id}
        delay = 1.0
        while not over():
            caller = service.Caller(key=key, user_agent=USER_AGENT, session=batch.id)
            if key is None:
                caller.key_error = "the batch's API key no longer exists"
            reply = await service.handle(endpoint, dialect, raw, headers, caller)
            if isinstance(reply, service.StreamReply):  # a batch line never streams
                await service.close_quietly(reply.chunks)
                status, answer = 500, {"error": {"message": "unexpected stream"}}
            else:
                status = reply.status
                try:
                    answer = orjson.loads(reply.body)
                except orjson.JSONDecodeError:
                    answer = {"error": {"message": reply.body.decode("utf-8", "replace")[:2000]}}
            cost, error = _costs.pop(caller.request_id, (Decimal(0), ""))
            if (status == 429 and not any(words in error for words in BUDGET_SPENT)) or (
                status == 503 and lifecycle.closing()
            ):
                await asyncio.sleep(delay)  # try again later, within the window
                delay = min(delay * 2, 30.0)
                continue
            result = "succeeded" if status < 400 else "errored"
            await db_work.arun(_record, line_id, result, status, caller.request_id, answer, cost)
            return

    async def worker() -> None:
        while queue and not over():
            line_id, _index, _custom_id, body = queue.pop()
            try:
                await run_line(line_id, body)
            except asyncio.CancelledError:
                raise  # stopped: the line stays pending and runs again
            except Exception:  # our bug: the line says so, the batch goes on
                log.exception("batch %s line %s", batch.id, line_id)
                await db_work.arun(
                    _record, line_id, "errored", 500, "",
                    {"error": {"message": "internal error", "type": "api_error"}}, Decimal(0),
                )  # fmt: skip

    limit = max(1, settings.SWITCHYARD_BATCH_CONCURRENCY)
    workers = [asyncio.create_task(worker()) for _ in range(min(limit, len(pending)))]
    try:
        while not all(w.done() for w in workers):
            await asyncio.wait(workers, timeout=1.0)
            if stop.is_set():
                break
    finally:
        for w in workers:
            w.cancel()
        for w in workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await w


# --- ending ------------------------------------------------------------------------------


def _end(pk: str, native_final: str = "") -> None:
    """Finish the batch once no line is left to run: cancelled, expired or completed
    (``native_final``: what the upstream's batch ended as; lines it gave no result are
    cancelled or expired)."""
    batch = Batch.objects.get(pk=pk)
    if batch.status not in Batch.UNFINISHED:
        return
    now = timezone.now()
    pending = BatchLine.objects.filter(batch_id=pk, outcome="")
    if native_final:
        left = "canceled" if native_final == "cancelled" else "expired"
        pending.update(outcome=left, finished_at=now)
        final = native_final
    elif batch.status == "cancelling":
        pending.update(outcome="canceled", finished_at=now)
        final = "cancelled"
    elif pending.exists():
        if now < batch.expires_at:
            return  # lines still to run (a line left by a lost worker): claimed again
        pending.update(outcome="expired", finished_at=now)
        final = "expired"
    else:
        final = "completed"
    Batch.objects.filter(pk=pk, status__in=("in_progress", "validating")).update(
        status="finalizing", finalizing_at=now
    )
    updates: dict[str, Any] = {}
    if batch.api == "openai":
        updates.update(_write_files(batch))
    counts = operations.line_counts([pk])[pk]
    updates.update(
        completed=counts["succeeded"],
        failed=counts["errored"] + counts["expired"] + counts["canceled"],
        cancelled=counts["canceled"],
        expired=counts["expired"],
        cost_usd=sum(
            BatchLine.objects.filter(batch_id=pk).values_list("cost_usd", flat=True), Decimal(0)
        ),
        status=final,
    )
    updates[{"cancelled": "cancelled_at", "expired": "expired_at"}.get(final, "completed_at")] = (
        timezone.now()
    )
    Batch.objects.filter(pk=pk, status__in=Batch.UNFINISHED).update(**updates)


def _fail(pk: str, message: str) -> None:
    errors = {"object": "list", "data": [{"code": "internal_error", "message": message[:500]}]}
    Batch.objects.filter(pk=pk, status__in=Batch.UNFINISHED).update(
        status="failed", failed_at=timezone.now(), errors=errors
    )


def openai_line(line: BatchLine) -> dict[str, Any]:
    """One line of an OpenAI batch's output or error file."""
    ident = "batch_req_" + secrets.token_hex(12)
    if line.outcome in ("succeeded", "errored"):
        return {
            "id": ident,
            "custom_id": line.custom_id,
            "response": {
                "status_code": line.status_code,
                "request_id": line.request_id,
                "body": line.response,
            },
            "error": None,
        }
    code, message = (
        ("batch_expired", EXPIRED) if line.outcome == "expired" else ("batch_cancelled", CANCELLED)
    )
    return {
        "id": ident,
        "custom_id": line.custom_id,
        "response": None,
        "error": {"code": code, "message": message},
    }


def result_file_id(batch_id: str, field: str) -> str:
    """The id of a batch's output or error file: the same each time it is written."""
    return "file-" + hashlib.sha256(f"{batch_id}:{field}".encode()).hexdigest()[:24]


def _write_files(batch: Batch) -> dict[str, str]:
    """The output file (lines that succeeded) and the error file (the others), each
    only when it has a line, owned by the batch's key."""
    good: list[bytes] = []
    bad: list[bytes] = []
    for line in BatchLine.objects.filter(batch_id=batch.id).order_by("index").iterator():
        (good if line.outcome == "succeeded" else bad).append(orjson.dumps(openai_line(line)))
    owner = MASTER if batch.key_id is None else _OwnerKey(batch.key_id)
    updates: dict[str, str] = {}
    for field, lines, name in (
        ("output_file_id", good, "batch_{}_output.jsonl"),
        ("error_file_id", bad, "batch_{}_error.jsonl"),
    ):
        if not lines:
            continue
        data = b"\n".join(lines) + b"\n"
        file_id = result_file_id(batch.id, field)
        # a process killed after writing it and before saving the batch: written again
        # under the same id, never a second file
        StoredFile.objects.filter(id=file_id).delete()
        made = files.create(
            owner,  # type: ignore[arg-type]
            "batch_output",
            name.format(batch.id),
            BytesIO(data),
            len(data),
            timezone.now() + timedelta(days=files.BATCH_FILE_DAYS),
            file_id=file_id,
        )
        updates[field] = made["id"]
    return updates


class _OwnerKey:
    """Enough of a key to own a file (its id)."""

    def __init__(self, key_id: int) -> None:
        self.id = key_id
        self.is_master = False


# the lease is renewed (and a cancel seen) about every second
RUNNER = LeasedRunner("batch", Batch, run_claimed, lease_seconds=LEASE_SECONDS, room=_room)
