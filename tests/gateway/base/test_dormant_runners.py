"""A runner registered with ``jobs`` (``hooks.BackgroundTask``) stays unstarted, and what
it imports unloaded, until one of its job tables has an unfinished row; one query a look
tells for all of them (``leases.unfinished_among``)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from console.evals.models import Experiment, ShadowScoring, SliceScoring
from gateway.base import hooks, leases, lifecycle, process_role
from gateway.base.leased_runner import LeasedRunner
from gateway.models import BackgroundResponse, Batch

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.django_db
def test_one_query_says_which_job_tables_have_unfinished_rows() -> None:
    models = [Batch, BackgroundResponse, Experiment, ShadowScoring, SliceScoring]
    with CaptureQueriesContext(connection) as queries:
        assert leases.unfinished_among(models) == [False] * 5
    assert len(queries) == 1
    BackgroundResponse.objects.create(id="resp_done", body={}, response={}, status="completed")
    assert leases.unfinished_among(models) == [False] * 5  # finished: nothing to claim
    BackgroundResponse.objects.create(id="resp_queued", body={}, response={})  # queued
    assert leases.unfinished_among(models) == [False, True, False, False, False]
    assert leases.unfinished_among([]) == []


@pytest.fixture
def lone_task(monkeypatch):
    """The lifecycle with one background task, ``jobs=(BackgroundResponse,)``, a stand-in
    that notes it ran; nothing else registered."""
    ran = asyncio.Event()

    async def run() -> None:
        ran.set()
        await asyncio.Event().wait()

    for registry in (
        hooks.starters,
        hooks.drainers,
        hooks.closers,
        hooks.warm_ups,
        hooks.background_tasks,
    ):
        monkeypatch.setattr(registry, "_entries", [])
    hooks.background_tasks.register(
        hooks.BackgroundTask("waiting", run, process_role.WORKER, jobs=(BackgroundResponse,))
    )
    monkeypatch.setattr(lifecycle, "DORMANT_POLL_SECONDS", 0.05)
    return ran


def _names() -> list[str]:
    return sorted(t.get_name() for t in lifecycle._tasks if not t.done())


@pytest.mark.django_db(transaction=True)
async def test_a_runner_with_jobs_starts_once_a_job_is_queued(lone_task, settings) -> None:
    settings.SWITCHYARD_ROLE = "worker"
    await lifecycle.ensure_started()
    try:
        await asyncio.sleep(0.3)  # several looks: nothing to run
        assert not lone_task.is_set()
        assert _names() == [lifecycle.DORMANT_TASK]
        await asyncio.to_thread(
            BackgroundResponse.objects.create, id="resp_1", body={}, response={}
        )
        await asyncio.wait_for(lone_task.wait(), 5)
        await asyncio.sleep(0.05)
        assert _names() == ["waiting"]  # the watcher is done: nothing left dormant
    finally:
        await lifecycle.shutdown()


@pytest.mark.django_db(transaction=True)
async def test_a_job_queued_in_this_process_starts_its_runner_at_once(
    lone_task, settings, monkeypatch
) -> None:
    settings.SWITCHYARD_ROLE = "worker"
    monkeypatch.setattr(lifecycle, "DORMANT_POLL_SECONDS", 30.0)  # only a wake brings it
    await lifecycle.ensure_started()
    try:
        await asyncio.sleep(0.1)
        await asyncio.to_thread(
            BackgroundResponse.objects.create, id="resp_1", body={}, response={}
        )
        from gateway.features.responses import background

        background.wake()  # what queuing a background response calls
        await asyncio.wait_for(lone_task.wait(), 5)
    finally:
        await lifecycle.shutdown()


async def test_a_database_away_is_asked_again(lone_task, settings, monkeypatch) -> None:
    settings.SWITCHYARD_ROLE = "worker"
    answers = iter([RuntimeError("database away"), [False], [True]])

    def unfinished_among(models: object) -> list[bool]:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    monkeypatch.setattr(leases, "unfinished_among", unfinished_among)
    await lifecycle.ensure_started()
    try:
        await asyncio.wait_for(lone_task.wait(), 5)  # the third look
    finally:
        await lifecycle.shutdown()


async def test_a_process_whose_role_does_not_run_it_never_looks(
    lone_task, settings, monkeypatch
) -> None:
    settings.SWITCHYARD_ROLE = "api"
    monkeypatch.setattr(leases, "unfinished_among", lambda models: pytest.fail("looked"))
    await lifecycle.ensure_started()
    try:
        await asyncio.sleep(0.2)
        assert _names() == []
    finally:
        await lifecycle.shutdown()


# A worker of a deployment that never ran a batch, an evaluation or a background Response,
# started as the server starts it (its starters, background tasks and warm-ups), after a
# while at rest: none of their runners' modules is loaded.
PROBE = """
import asyncio, json, os, sys
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway.server.settings")
import django
django.setup()
from django.core.management import call_command
call_command("migrate", "--no-input", verbosity=0)
import gateway.server.asgi  # noqa: F401
from gateway.base import lifecycle

async def main():
    await lifecycle.ensure_started()
    await asyncio.sleep(1.5)
    names = sorted(t.get_name() for t in lifecycle._tasks if not t.done())
    await lifecycle.shutdown()
    return names

names = asyncio.run(main())
print(json.dumps([names, sorted(sys.modules)]))
"""

DORMANT_MODULES = (
    "gateway.features.batches.runner",
    "gateway.features.batches.native",
    "gateway.features.batches.upstreams",
    "console.evals.runner",
    "console.evals.scorers",
    "console.shadow_scoring",
    "console.slice_scoring",
    "gateway.features.responses.background",
)


def test_a_worker_at_rest_has_not_loaded_the_runners_it_had_no_job_for(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "SWITCHYARD_DATA_DIR": str(tmp_path),
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "gateway.server.settings",
        "SWITCHYARD_ROLE": "worker",
    }
    env.pop("DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]
    names, loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert lifecycle.DORMANT_TASK in names and "file-pruning" in names
    assert not {"batch-runner", "evaluations", "background-responses"} & set(names)
    assert [m for m in DORMANT_MODULES if m in loaded] == []
    assert "gateway.features.batches.files.pruning" in loaded  # the probe did start the tasks


# --- what the runners do for it ------------------------------------------------------


def test_the_evaluations_task_waits_on_every_kind_its_runner_claims() -> None:
    """A kind the runner claims but the task's ``jobs`` leave out would never start a
    dormant runner: its jobs would wait for ever on a server with nothing else to run."""
    from console import shadow_scoring, slice_scoring  # noqa: F401 - register their kinds
    from console.evals import runner

    (task,) = [t for t in hooks.background_tasks if t.name == "evaluations"]
    assert {model for model, _ in runner._kinds()} == set(task.jobs)


def _runner(name: str):
    """The runner of ``name``: the leased loop (``LeasedRunner``) of batches and
    background Responses, the evaluations runner's module."""
    if name == "batches":
        from gateway.features.batches import runner as batches

        return batches.RUNNER
    if name == "evaluations":
        from console.evals import runner as evaluations

        return evaluations
    from gateway.features.responses import background

    return background.RUNNER


def _patch_claims(monkeypatch, runner, looked: list[object]) -> None:
    if isinstance(runner, LeasedRunner):
        monkeypatch.setattr(runner, "poll_seconds", 30.0)
        monkeypatch.setattr(runner, "claim", lambda *args: looked.append(args))
    else:
        monkeypatch.setattr(runner, "POLL_SECONDS", 30.0)
        monkeypatch.setattr(runner, "claim_one", lambda *args: looked.append(args))


@pytest.mark.parametrize("name", ["batches", "evaluations", "background-responses"])
async def test_a_runner_started_on_a_job_claims_at_once(monkeypatch, name) -> None:
    """Started because a job waits, a runner looks for it before its first poll's wait."""
    runner = _runner(name)
    looked: list[object] = []
    _patch_claims(monkeypatch, runner, looked)
    task = asyncio.create_task(runner.run_forever())
    try:
        for _ in range(200):
            if looked:
                break
            await asyncio.sleep(0.01)
        assert looked, "no claim before the first poll's wait"
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


@pytest.mark.parametrize("name", ["batches", "evaluations", "background-responses"])
def test_a_runner_not_started_asks_the_lifecycle_to_look(monkeypatch, name) -> None:
    runner = _runner(name)
    asked: list[int] = []
    monkeypatch.setattr(runner, "_wake", None)
    monkeypatch.setattr(lifecycle, "wake_dormant", lambda: asked.append(1))
    runner.wake()
    assert asked == [1]


async def test_expired_files_are_pruned_when_the_task_starts(monkeypatch) -> None:
    """The pruning that left the batch runner still runs at start, then hourly."""
    from gateway.features.batches.files import api, pruning

    pruned: list[str] = []
    monkeypatch.setattr(api, "prune_expired", lambda: pruned.append("expired") or 0)
    monkeypatch.setattr(api, "prune_abandoned_uploads", lambda: pruned.append("uploads") or 0)
    monkeypatch.setattr(pruning.db_work, "arun", lambda fn: asyncio.to_thread(fn))
    task = asyncio.create_task(pruning.prune_forever())
    try:
        for _ in range(200):
            if len(pruned) == 2:
                break
            await asyncio.sleep(0.01)
        assert pruned == ["expired", "uploads"]
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
