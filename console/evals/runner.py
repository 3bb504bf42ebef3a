"""The experiment runner: one per worker process (``gateway.base.hooks.background_tasks``,
the ``worker`` role and ``all``).

Claiming: an unfinished experiment whose lease is empty or expired is taken with one
conditional UPDATE (``lease_until`` still what we read); the database lets one process
win, so with ``serve --workers N`` or several instances each experiment runs in exactly
one of them. The winner renews the lease every ``RENEW_SECONDS``; if it dies the lease
runs out (``LEASE_SECONDS``) and another process (or the restarted one) resumes it. A
clean shutdown hands the lease back at once.

Running: every cell (row × column) goes through ``gateway.core.service.handle`` exactly as a
playground column does (``console.playground.run.run_column``: limits, routing,
retries, caps and the journal apply), as the user who started the experiment: their
console key for their default team (``gateway.access.console_keys``), so their team's
limits and budget and the route team check hold, and the journal names that key; each
call carries the session ``experiment:<id>`` so the log tells the experiment's calls
apart. An experiment started with the master key (through /api) runs as the master key
did before (``MASTER_STARTER``); one whose starter is unknown (started before starters
were recorded through /api, or a deleted user) or may no longer run evaluations fails
with a message saying so, and runs nothing. At most ``concurrency`` cells are in
flight. Finished cells are saved in batches with ``ignore_conflicts`` on the unique
(experiment, row, column): a resumed run skips the cells already saved and a cell is
never saved twice. A failing route records its error in the cell and the run goes on.
After the calls, the scorers that call a route (similarity, judges) run over the cells
that lack their value; then the summary is computed and the experiment is done."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from decimal import Decimal
from typing import Any

import orjson
from channels.db import database_sync_to_async
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from console.evals import live, prompt_cells, summary
from console.evals import scorers as scoring
from console.evals.models import (
    Cell,
    DatasetRow,
    Experiment,
    ScoringRun,
    ShadowScoring,
    SliceScoring,
)
from console.playground import spec as specs
from console.playground.run import ColumnRun, run_column
from gateway.access import console_keys
from gateway.base import db_work, leases, lifecycle
from gateway.base.entries import MASTER, KeyEntry
from gateway.codecs.openai_chat import inputs as openai_inputs
from gateway.core import service
from gateway.telemetry.attribution import SESSION_HEADER

log = logging.getLogger(__name__)

LEASE_SECONDS = float(os.environ.get("SWITCHYARD_EVALS_LEASE_SECONDS", "15"))
RENEW_SECONDS = LEASE_SECONDS / 3
POLL_SECONDS = 1.0
FLUSH_SECONDS = 1.0  # progress the page polls each second; fewer writes
FLUSH_CELLS = 200
MAX_JOBS_PER_PROCESS = 2  # of each kind
MAX_CONCURRENCY = 64
USER_AGENT = "switchyard-evals"
Leased = (
    Experiment | ShadowScoring | SliceScoring
)  # the models the runner leases (same lease fields)
RUNNER_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"

_wake: asyncio.Event | None = None
_loop: asyncio.AbstractEventLoop | None = None
_running: dict[tuple[type[Leased], int], asyncio.Task[None]] = {}


def wake() -> None:
    """Look for work now (a new or resumed experiment in this process); the runner not
    started yet (``hooks.BackgroundTask.jobs``) starts on it."""
    if _wake is not None and _loop is not None and not _loop.is_closed():
        _loop.call_soon_threadsafe(_wake.set)
    else:
        lifecycle.wake_dormant()


# ``created_by`` of a job the master key started (not a valid username: no user has it)
MASTER_STARTER = "(master key)"


def starter_of(actor: Any) -> str:
    """What ``created_by`` records for a job ``actor`` (a ``roles.Actor``) starts."""
    return MASTER_STARTER if getattr(actor, "via", "") == "master" else actor.username


def starter_key(created_by: str, ability: str, master: KeyEntry) -> KeyEntry:
    """The key a background job started by ``created_by`` runs with (sync: the database
    says who they are now): ``master`` for the master key, else the user's console key
    for their default team. ConsoleIdentityRefused when there is no such user or they
    may no longer do it."""
    if created_by == MASTER_STARTER:
        return master
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(username=created_by).first() if created_by else None
    if user is None:
        raise console_keys.ConsoleIdentityRefused(
            "no known user started this job, so it cannot run as anyone: start it again"
        )
    return console_keys.key_for(user.pk, console_keys.DEFAULT, ability)


def session_of(experiment_id: int) -> str:
    """The journal session that tags an experiment's calls."""
    return f"experiment:{experiment_id}"


# --- claiming ----------------------------------------------------------------------------


def claim_one(runner_id: str = RUNNER_ID, model: type[Leased] = Experiment) -> int | None:
    """Take one unfinished job of ``model`` whose lease is free (an experiment by
    default; a shadow scoring run is the other kind)."""
    mine = [pk for kind, pk in _running if kind is model]
    claimed: int | None = leases.claim(model, runner_id, LEASE_SECONDS, skip=mine)
    return claimed


def renew(pk: int, runner_id: str = RUNNER_ID, model: type[Leased] = Experiment) -> str | None:
    """Extend our lease; the job's status, or None when it is no longer ours."""
    return leases.renew(model, pk, runner_id, LEASE_SECONDS)


def release(pk: int, runner_id: str = RUNNER_ID, model: type[Leased] = Experiment) -> None:
    leases.release(model, pk, runner_id)


JobRunner = Callable[[int], Coroutine[Any, Any, None]]
# The kinds of job the runner takes, in order of preference: experiments first; other
# kinds register themselves (console.shadow_scoring, imported before the runner starts:
# console.evals.plugin._run_evaluations).
_KINDS: list[tuple[type[Leased], JobRunner]] = []


def register(model: type[Leased], run: JobRunner) -> None:
    """Let the runner lease and run jobs of ``model`` (a leased table) with ``run``."""
    if all(kind is not model for kind, _ in _KINDS):
        _KINDS.append((model, run))


def _kinds() -> list[tuple[type[Leased], JobRunner]]:
    return [(Experiment, run_claimed), *_KINDS]


async def run_forever() -> None:
    """The per-process loop: claim, run, repeat. Never raises (a database that is down
    or not migrated yet is retried)."""
    global _wake, _loop
    _wake, _loop = asyncio.Event(), asyncio.get_running_loop()
    _wake.set()  # started on a job (or with the process): claim at once
    try:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_wake.wait(), POLL_SECONDS)
            _wake.clear()
            for job in [job for job, task in _running.items() if task.done()]:
                del _running[job]
            for model, run in _kinds():
                if sum(1 for kind, _ in _running if kind is model) >= MAX_JOBS_PER_PROCESS:
                    continue
                try:
                    # db_work keeps the thread's SQLite connection: channels' wrapper
                    # closes it, and a new one each second (its PRAGMAs and functions)
                    # was 1.3% of a loaded worker's CPU with no experiment at all
                    pk = await db_work.arun(claim_one, RUNNER_ID, model)
                except Exception as exc:
                    log.debug("evals runner: cannot claim (%s)", exc)
                    continue
                if pk is not None:
                    name = f"{model._meta.model_name}-{pk}"
                    _running[(model, pk)] = asyncio.create_task(run(pk), name=name)
                    _wake.set()  # maybe another one
    finally:
        await _cancelled(*_running.values())
        _running.clear()
        _wake = _loop = None


async def _cancelled(*tasks: asyncio.Task[Any]) -> None:
    """Cancel ``tasks`` and wait for their end, whatever it is."""
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


# --- running one experiment ------------------------------------------------------------------


@dataclasses.dataclass(slots=True)
class Plan:
    experiment: Experiment
    rows: dict[int, DatasetRow]
    pending: list[tuple[int, int]]
    key: KeyEntry  # the starter's (``starter_key``)


def _plan(pk: int) -> Plan:
    experiment = Experiment.objects.select_related("dataset").get(pk=pk)
    master = dataclasses.replace(MASTER, name=f"experiment:{pk}", prefix="eval")
    key = starter_key(experiment.created_by, "evals.use", master)
    rows = {r.index: r for r in experiment.dataset.rows(experiment.dataset_version)}
    done = set(Cell.objects.filter(experiment=experiment).values_list("row_index", "column"))
    pending = [
        (index, column)
        for index in sorted(rows)
        for column in range(len(experiment.columns))
        if (index, column) not in done
    ]
    updates: dict[str, Any] = {}
    if experiment.status == Experiment.Status.QUEUED:
        updates.update(status=Experiment.Status.RUNNING)
        if experiment.started_at is None:
            updates["started_at"] = timezone.now()
    if updates:
        Experiment.objects.filter(pk=pk).update(**updates)
        for name, value in updates.items():
            setattr(experiment, name, value)
    return Plan(experiment, rows, pending, key)


def _flush(pk: int, fields: list[dict[str, Any]]) -> None:
    """Save a batch and move the progress counters on by it (cheap while running; a
    batch that overlaps cells another runner saved is set right by ``_recount``)."""
    if not fields:
        return
    cells = [Cell(experiment_id=pk, **f) for f in fields]
    Cell.objects.bulk_create(cells, ignore_conflicts=True)
    Experiment.objects.filter(pk=pk).update(
        cells_done=F("cells_done") + len(cells),
        cells_failed=F("cells_failed") + sum(1 for c in cells if c.error),
        spend_usd=F("spend_usd") + sum((c.cost_usd for c in cells), Decimal(0)),
    )


def _recount(pk: int) -> int:
    """The counters from the saved cells (exact); returns the number saved."""
    totals = Cell.objects.filter(experiment_id=pk).aggregate(
        done=Count("id"), failed=Count("id", filter=~Q(error="")), spend=Sum("cost_usd")
    )
    done: int = totals["done"]
    Experiment.objects.filter(pk=pk).update(
        cells_done=done, cells_failed=totals["failed"], spend_usd=totals["spend"] or 0
    )
    return done


def _finish(pk: int, status: str, error: str = "") -> None:
    _recount(pk)
    experiment = Experiment.objects.get(pk=pk)
    summary.refresh(experiment)
    Experiment.objects.filter(pk=pk, status__in=Experiment.UNFINISHED).update(
        status=status, error=error, finished_at=timezone.now()
    )


def column_body(experiment: Experiment, row: DatasetRow, column: int) -> dict[str, Any]:
    spec = experiment.columns[column]
    raw = dict(spec.get("params") or {})
    system = raw.pop("system", None)
    params = specs.parse_params(raw, f"column {column + 1}")
    if spec.get("prompt"):  # a registry prompt's version, by reference (prompt_runs)
        return prompt_cells.body(spec, row, specs.build_body, params)
    return specs.build_body(
        "openai",
        spec["route"],
        system if system not in (None, "") else row.system,
        row.messages,
        params,
        [],
    )


async def run_cell(
    experiment: Experiment, row: DatasetRow, column: int, key: KeyEntry
) -> dict[str, Any]:
    """One cell's call and its synchronous scores, as the fields of its ``Cell`` (the
    model objects are built in the saving thread, off the event loop)."""
    cell: dict[str, Any] = {"row_index": row.index, "column": column}
    try:
        body = column_body(experiment, row, column)
    except specs.SpecError as exc:
        cell["error"] = str(exc)
        return cell
    run = ColumnRun(column, experiment.columns[column]["route"], "openai", body)
    await run_column(run, key, USER_AGENT, session=session_of(experiment.pk))
    fold = run.reader.fold
    error = (run.error or fold.error or "")[:2000]
    output = fold.text
    cell.update(
        output=output,
        error=error,
        status=run.status,
        request_id=run.request_id,
        latency_ms=round((run.finished - run.started) * 1000, 1) if run.finished else None,
        ttft_ms=round((run.first_token - run.started) * 1000, 1) if run.first_token else None,
        input_tokens=fold.input_tokens or 0,
        output_tokens=fold.output_tokens or 0,
        cost_usd=Decimal(str(run.cost() or 0)),
    )
    scores: dict[str, float | None] = {}
    unscored: dict[str, str] = {}
    for scorer in experiment.scorers:
        if error:
            scores[scoring.name_of(scorer)] = None
        elif scorer["kind"] not in scoring.ASYNC_KINDS:
            scores[scoring.name_of(scorer)] = scoring.score_sync(scorer, output, row.reference)
            if scores[scoring.name_of(scorer)] is None:
                unscored[scoring.name_of(scorer)] = scoring.why_sync_unscored(scorer)
    cell["scores"] = scores
    cell["unscored"] = unscored
    if experiment.scorers:
        cell["score"] = scores.get(scoring.name_of(experiment.scorers[0]))
    return cell


async def run_claimed(pk: int) -> None:
    try:
        plan = await database_sync_to_async(_plan)(pk)
    except console_keys.ConsoleIdentityRefused as exc:
        log.warning("experiment %s not run: %s", pk, exc)
        await database_sync_to_async(_finish)(pk, Experiment.Status.FAILED, str(exc))
        await database_sync_to_async(release)(pk)
        return
    except Exception:
        log.exception("experiment %s cannot start", pk)
        await database_sync_to_async(_finish)(pk, Experiment.Status.FAILED, "cannot start")
        await database_sync_to_async(release)(pk)
        return
    experiment = plan.experiment
    await database_sync_to_async(_recount)(pk)  # a resumed run starts from what is saved
    stop = asyncio.Event()
    outcome: list[str] = []
    heartbeat = asyncio.create_task(_heartbeat(pk, stop, outcome))
    try:
        if experiment.status in (Experiment.Status.RUNNING, Experiment.Status.QUEUED):
            for _ in range(3):  # done only when every cell is saved
                await _run_cells(plan, stop)
                if stop.is_set():
                    return
                if await database_sync_to_async(_recount)(pk) >= experiment.total_cells:
                    break
                plan = await database_sync_to_async(_plan)(pk)
                if not plan.pending:
                    break
                log.warning("experiment %s: %d cells unsaved, again", pk, len(plan.pending))
            else:
                raise RuntimeError(f"{len(plan.pending)} cells could not be saved")
            await database_sync_to_async(
                Experiment.objects.filter(pk=pk, status=Experiment.Status.RUNNING).update
            )(status=Experiment.Status.SCORING)
        await live.announce(pk)
        await _score_async(experiment, plan.rows, stop, plan.key)
        if not stop.is_set():
            await database_sync_to_async(_finish)(pk, Experiment.Status.DONE)
            await live.announce(pk)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        log.exception("experiment %s failed", pk)
        await database_sync_to_async(_finish)(
            pk, Experiment.Status.FAILED, f"{type(exc).__name__}: {exc}"
        )
    finally:
        await _cancelled(heartbeat)
        if outcome == ["cancelled"]:
            with contextlib.suppress(Exception):
                await database_sync_to_async(summary.refresh)(
                    await database_sync_to_async(Experiment.objects.get)(pk=pk)
                )
        with contextlib.suppress(Exception):
            await asyncio.shield(database_sync_to_async(release)(pk))


async def run_scoring(
    pk: int,
    model: type[ScoringRun],
    what: str,
    work: Callable[[asyncio.Event], Awaitable[bool]],
    finish: Callable[..., None],
) -> None:
    """A claimed judge's run (shadow or slice scoring) under its lease, renewed meanwhile
    and released at the end: ``work(stop)`` scores what is left (False: it stopped, the
    lease lost or the run cancelled), then ``finish(pk, DONE)``; a console identity
    refused or any failure finishes it ``FAILED``, saying why."""
    stop = asyncio.Event()
    outcome: list[str] = []
    heartbeat = asyncio.create_task(_heartbeat(pk, stop, outcome, model))
    try:
        if await work(stop):
            await database_sync_to_async(finish)(pk, ScoringRun.Status.DONE)
    except asyncio.CancelledError:
        raise
    except console_keys.ConsoleIdentityRefused as exc:
        log.warning("%s %s not run: %s", what, pk, exc)
        with contextlib.suppress(Exception):
            await database_sync_to_async(finish)(pk, ScoringRun.Status.FAILED, str(exc))
    except Exception as exc:
        log.exception("%s %s failed", what, pk)
        with contextlib.suppress(Exception):
            await database_sync_to_async(finish)(
                pk, ScoringRun.Status.FAILED, f"{type(exc).__name__}: {exc}"[:2000]
            )
    finally:
        await _cancelled(heartbeat)
        with contextlib.suppress(Exception):
            await asyncio.shield(database_sync_to_async(release)(pk, RUNNER_ID, model))


async def _heartbeat(
    pk: int, stop: asyncio.Event, outcome: list[str], model: type[Leased] = Experiment
) -> None:
    while not stop.is_set():
        await asyncio.sleep(RENEW_SECONDS)
        try:
            status = await database_sync_to_async(renew)(pk, RUNNER_ID, model)
        except Exception as exc:  # the database is away: keep going, try again
            log.debug("experiment %s: lease not renewed (%s)", pk, exc)
            continue
        if status is None or status == "cancelled":
            outcome.append("lost" if status is None else "cancelled")
            stop.set()


async def _run_cells(plan: Plan, stop: asyncio.Event) -> None:
    experiment = plan.experiment
    limit = max(1, min(experiment.concurrency, MAX_CONCURRENCY))
    queue = list(reversed(plan.pending))
    finished: list[dict[str, Any]] = []
    last_flush = time.monotonic()
    key = plan.key

    async def flush() -> None:
        nonlocal finished, last_flush
        batch, finished = finished, []
        last_flush = time.monotonic()
        await database_sync_to_async(_flush)(experiment.pk, batch)
        if batch:
            await live.announce(experiment.pk)

    async def worker() -> None:
        while queue and not stop.is_set():
            index, column = queue.pop()
            try:
                cell = await run_cell(experiment, plan.rows[index], column, key)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # we are being stopped: the cell stays unsaved and runs again
                log.warning(
                    "experiment %s row %s column %s: call cancelled", experiment.pk, index, column
                )
                cell = {"row_index": index, "column": column, "error": "the call was cancelled"}
            except Exception as exc:  # our bug, not the route's: the row says so, the run goes on
                log.exception("experiment %s row %s column %s", experiment.pk, index, column)
                cell = {
                    "row_index": index,
                    "column": column,
                    "error": f"{type(exc).__name__}: {exc}"[:2000],
                }
            finished.append(cell)

    workers = [asyncio.create_task(worker()) for _ in range(limit)]
    try:
        while not all(w.done() for w in workers):
            await asyncio.wait(workers, timeout=FLUSH_SECONDS)
            if stop.is_set():
                break
            if len(finished) >= FLUSH_CELLS or time.monotonic() - last_flush >= FLUSH_SECONDS:
                await flush()
    finally:
        await _cancelled(*workers)
        await asyncio.shield(flush())


# --- scorers that call a route -------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Caller:
    """Who a job's judge and similarity calls go out as, the session that tags them in
    the journal and their user agent."""

    key: KeyEntry
    session: str
    user_agent: str = USER_AGENT


async def judge_run(who: Caller, route: str, prompt: str, max_tokens: int = 300) -> ColumnRun:
    """One judge call through the service, its body written by the OpenAI codec (as the
    playground's are), its streamed answer folded."""
    body = specs.build_body(
        "openai", route, "", [{"role": "user", "content": prompt}],
        specs.Params(max_tokens=max_tokens), [],
    )  # fmt: skip
    run = ColumnRun(0, route, "openai", body)
    await run_column(run, who.key, who.user_agent, session=who.session)
    return run


async def chat_text(who: Caller, route: str, prompt: str) -> str:
    """A judge call's answer (RuntimeError when the call failed)."""
    run = await judge_run(who, route, prompt)
    if run.error:
        raise RuntimeError(run.error)
    return str(run.reader.fold.text)


async def embed(who: Caller, route: str, texts: list[str]) -> list[list[float]]:
    caller = service.Caller(key=who.key, user_agent=who.user_agent, session=who.session)
    body = orjson.dumps(openai_inputs.embeddings_body(route, texts))
    reply = await service.handle(
        "embeddings", "openai", body, {SESSION_HEADER: who.session}, caller
    )
    if not isinstance(reply, service.Reply) or reply.status >= 400:
        raise RuntimeError("embedding call failed")
    data = orjson.loads(reply.body)["data"]
    return [item["embedding"] for item in sorted(data, key=lambda d: d["index"])]


def _save_scores(cells: list[Cell]) -> None:
    Cell.objects.bulk_update(cells, ["scores", "score", "unscored", "reasons"], batch_size=500)


async def _score_async(
    experiment: Experiment, rows: dict[int, DatasetRow], stop: asyncio.Event, key: KeyEntry
) -> None:
    scorers = [s for s in experiment.scorers if s["kind"] in scoring.ASYNC_KINDS]
    if not scorers:
        return
    cells = await database_sync_to_async(list)(
        Cell.objects.filter(experiment_id=experiment.pk, error="").order_by("row_index", "column")
    )
    by_row: dict[int, dict[int, Cell]] = {}
    for cell in cells:
        by_row.setdefault(cell.row_index, {})[cell.column] = cell
    headline = scoring.name_of(experiment.scorers[0])
    semaphore = asyncio.Semaphore(max(1, min(experiment.concurrency, MAX_CONCURRENCY)))
    who = Caller(key, session_of(experiment.pk))

    async def score(scorer: dict[str, Any], cell: Cell) -> None:
        name = scoring.name_of(scorer)
        row = rows.get(cell.row_index)
        if row is None or name in cell.scores:
            return
        failed = False

        async def ask(route: str, prompt: str) -> str:
            nonlocal failed
            try:
                return await chat_text(who, route, prompt)
            except Exception:
                failed = True
                raise

        why = ""
        async with semaphore:
            if stop.is_set():
                return
            question = row.prompt()
            if scorer["kind"] == "similarity":
                value = await scoring.similarity(
                    scorer, cell.output, row.reference, lambda r, t: embed(who, r, t)
                )
                why = (
                    scoring.NO_REFERENCE
                    if not row.reference
                    else scoring.NO_ANSWER
                    if not cell.output
                    else scoring.EMBED_FAILED
                )
            elif scorer.get("mode") == "pairwise":
                base = by_row[cell.row_index].get(experiment.baseline)
                if cell.column == experiment.baseline or base is None:
                    value = None  # the baseline is not judged against itself: not unscored
                else:
                    value = await scoring.judge_pairwise(
                        scorer, question, cell.output, base.output, row.reference, ask
                    )
                    why = scoring.JUDGE_FAILED if failed else scoring.JUDGE_NO_VERDICT
            else:
                value, words = await scoring.judge_pointwise_reasoned(
                    scorer, question, cell.output, row.reference, ask
                )
                if words:
                    cell.reasons = {**(cell.reasons or {}), name: words}
                why = scoring.JUDGE_FAILED if failed else scoring.JUDGE_NO_SCORE
        if value is None and why:
            cell.unscored = {**(cell.unscored or {}), name: why}
        cell.scores[name] = value
        if name == headline:
            cell.score = value

    for scorer in scorers:
        pending = [c for c in cells if scoring.name_of(scorer) not in c.scores]
        for start in range(0, len(pending), 100):  # saved as it goes: a restart resumes
            chunk = pending[start : start + 100]
            await asyncio.gather(*(score(scorer, c) for c in chunk))
            if stop.is_set():
                return
            await database_sync_to_async(_save_scores)(chunk)
