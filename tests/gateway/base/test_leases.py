"""Background work runs where the process's role says: a worker (and ``all``) runs the
batch runner and the evaluations' runner (once there is a job for them), an api or
console process neither; retention pruning runs on a worker only, and under the
``retention`` lease (one process of all)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from gateway.base import hooks, leases, lifecycle
from gateway.journal import pruning
from gateway.journal.background import Writer
from gateway.models import RequestLog, SingletonLease


@pytest.fixture
def started_runners(monkeypatch):
    """Start the lifecycle with the real background-task registrations, the runners'
    loops replaced by stand-ins that note they ran (no starters, drainers, closers)."""
    from console.evals import continuous as evaluators
    from console.evals import runner as eval_runner
    from gateway.features.alerts import runner as alerts_runner
    from gateway.features.batches import runner as batch_runner
    from gateway.features.batches.files import pruning as file_pruning
    from gateway.features.billing import runner as bills_runner
    from gateway.features.cache_doctor import alerting as cache_alerts
    from gateway.features.responses import background as responses_background

    ran: list[str] = []

    def stand_in(name: str):
        async def run_forever() -> None:
            ran.append(name)
            await asyncio.Event().wait()

        return run_forever

    monkeypatch.setattr(batch_runner, "run_forever", stand_in("batches"))
    monkeypatch.setattr(eval_runner, "run_forever", stand_in("evaluations"))
    monkeypatch.setattr(evaluators, "run_forever", stand_in("continuous-evaluators"))
    monkeypatch.setattr(alerts_runner, "run_forever", stand_in("budget-alerts"))
    monkeypatch.setattr(bills_runner, "run_forever", stand_in("bill-reconciliation"))
    monkeypatch.setattr(cache_alerts, "run_forever", stand_in("cache-loss-alerts"))
    monkeypatch.setattr(responses_background, "run_forever", stand_in("background-responses"))
    monkeypatch.setattr(file_pruning, "prune_forever", stand_in("file-pruning"))
    # every job table has an unfinished row: the dormant runners start at their first look
    monkeypatch.setattr(leases, "unfinished_among", lambda models: [True for _ in models])
    for registry in (hooks.starters, hooks.drainers, hooks.closers, hooks.warm_ups):
        monkeypatch.setattr(registry, "_entries", [])

    async def start(role: str) -> list[str]:
        from django.conf import settings

        monkeypatch.setattr(settings, "SWITCHYARD_ROLE", role)
        await lifecycle.ensure_started()
        for _ in range(1000):  # the spawned tasks take their first step (dormant: a look)
            await asyncio.sleep(0.01)
            waking = any(
                t.get_name() == lifecycle.DORMANT_TASK and not t.done() for t in lifecycle._tasks
            )  # the dormant runners' first look may not have started them yet
            if not waking and len(ran) == sum(
                1 for t in lifecycle._tasks if not t.get_name().startswith("d")
            ):
                break
        names = sorted(t.get_name() for t in lifecycle._tasks if not t.done())
        await lifecycle.shutdown()
        return names

    return start, ran


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        (
            "worker",
            [
                "background-responses",
                "batch-runner",
                "bill-reconciliation",
                "budget-alerts",
                "cache-loss-alerts",
                "continuous-evaluators",
                "evaluations",
                "file-pruning",
            ],
        ),
        (
            "all",
            [
                "background-responses",
                "batch-runner",
                "bill-reconciliation",
                "budget-alerts",
                "cache-loss-alerts",
                "continuous-evaluators",
                "evaluations",
                "file-pruning",
            ],
        ),
        ("api", []),
        ("console", []),
    ],
)
async def test_the_runners_start_only_where_the_role_runs_them(
    started_runners, role, expected
) -> None:
    start, ran = started_runners
    assert await start(role) == expected
    assert sorted(ran) == sorted({"batch-runner": "batches"}.get(n, n) for n in expected)


def test_every_background_task_names_its_roles() -> None:
    tasks = {task.name: task.roles for task in hooks.background_tasks}
    assert tasks == {
        "batch-runner": frozenset({"worker"}),
        "file-pruning": frozenset({"worker"}),
        "background-responses": frozenset({"worker"}),
        "evaluations": frozenset({"worker"}),
        "continuous-evaluators": frozenset({"worker"}),
        "budget-alerts": frozenset({"worker"}),
        "bill-reconciliation": frozenset({"worker"}),
        "cache-loss-alerts": frozenset({"worker"}),
    }


@pytest.mark.django_db
def test_a_named_lease_has_one_holder_until_it_expires() -> None:
    assert leases.hold(SingletonLease, "retention", 60, runner_id="a")
    assert not leases.hold(SingletonLease, "retention", 60, runner_id="b")
    assert leases.hold(SingletonLease, "retention", 60, runner_id="a")  # extended
    assert not leases.hold(SingletonLease, "retention", 60, runner_id="b")
    _expire("retention")
    assert leases.hold(SingletonLease, "retention", 60, runner_id="b")  # expired: b's
    assert not leases.hold(SingletonLease, "retention", 60, runner_id="c")
    assert SingletonLease.objects.get(pk="retention").runner == "b"


def _expire(name: str) -> None:
    SingletonLease.objects.filter(pk=name).update(
        lease_until=datetime.now(UTC) - timedelta(seconds=1)
    )


def _ancient() -> None:
    RequestLog.objects.create(
        request_id="ancient",
        dialect="openai",
        endpoint="chat",
        created_at=datetime.now(UTC) - timedelta(days=30),
    )


@pytest.mark.django_db
def test_retention_prunes_only_while_this_process_holds_the_lease() -> None:
    _ancient()
    leases.hold(SingletonLease, pruning.LEASE_NAME, 60, runner_id="another-process")
    assert pruning.prune_round_if_held(timedelta(days=7), 5) == 0
    assert RequestLog.objects.filter(request_id="ancient").exists()
    _expire(pruning.LEASE_NAME)  # the other process stopped renewing it
    assert pruning.prune_round_if_held(timedelta(days=7), 5) == 1
    assert SingletonLease.objects.get(pk=pruning.LEASE_NAME).runner == leases.PROCESS_ID


@pytest.mark.django_db
def test_a_free_lease_is_taken_once_and_never_extended_by_its_holder() -> None:
    """``take_free``: a daily round's lease; held by anyone, this process too, not due."""
    assert leases.take_free(SingletonLease, "daily", 60)
    assert not leases.take_free(SingletonLease, "daily", 60)  # ours, still running
    _expire("daily")
    leases.hold(SingletonLease, "daily", 60, runner_id="another-process")
    assert not leases.take_free(SingletonLease, "daily", 60)
    _expire("daily")
    assert leases.take_free(SingletonLease, "daily", 60)
    assert SingletonLease.objects.get(pk="daily").runner == leases.PROCESS_ID


@pytest.mark.parametrize(("role", "prunes"), [("api", False), ("console", False), ("worker", True)])
async def test_the_writer_prunes_only_on_a_role_that_runs_retention(
    settings, monkeypatch, role, prunes
) -> None:
    settings.SWITCHYARD_ROLE = role
    settings.SWITCHYARD_LOG_RETENTION_DAYS = 7
    rounds: list[int] = []
    monkeypatch.setattr(
        Writer, "_prune_guarded", staticmethod(lambda age, n: rounds.append(n) or 0)
    )
    writer = Writer(lambda batch: [], capacity=10, flush_seconds=0.01, notify=False)
    writer._next_prune = 0  # due now
    await writer._maybe_prune()
    assert bool(rounds) is prunes
