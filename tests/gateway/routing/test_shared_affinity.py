"""Cache affinity shared by the workers of a server (the counter service) and by the
instances (Redis): a prefix one process served is steered to the same deployment by
another process that never saw it, after one round trip; a prefix nobody served costs
that one round trip and nothing else; the key is the same in every process."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gateway.base.counters import SOCKET_ENV
from gateway.limits import counters, limits
from gateway.routing import prefix_affinity, routing, shared_affinity
from gateway.routing.prefix_affinity import AffinityTable
from gateway.server.counter_service import CounterService
from tests.gateway.entries import route, snapshot
from tests.gateway.routing.test_routing import Upstream
from tests.gateway.routing.test_shared_cooldowns import REDIS_URL, settle

PREFIX = 0x5EED


def test_the_prefix_key_is_the_same_in_another_process() -> None:
    """``hash`` is salted per process: two workers would never agree on a prefix."""
    code = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'gateway.server.settings');"
        "django.setup();"
        "from tests.gateway.routing.test_prefix_affinity import agent, prefix_key_of;"
        "print(prefix_key_of(agent('You are a coder.', 'fix the bug', 'and the test')))"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    from tests.gateway.routing.test_prefix_affinity import agent, prefix_key_of

    mine = prefix_key_of(agent("You are a coder.", "fix the bug", "and the test"))
    assert int(other.stdout.strip().splitlines()[-1]) == mine


class Worker:
    """Another worker: its own affinity table, swapped in around its requests."""

    def __init__(self) -> None:
        self.affinity = AffinityTable()

    async def run(self, r, upstream) -> str:
        mine = routing.affinity
        routing.affinity = self.affinity
        try:
            return await routing.run(snapshot(r), r, upstream, [], prefix=PREFIX)
        finally:
            await settle()
            routing.affinity = mine


async def steered_by_another(r) -> list[str]:
    """Which deployment each of 12 fresh workers picks for the prefix this worker served."""
    upstream = Upstream()
    await routing.run(snapshot(r), r, upstream, [], prefix=PREFIX)
    await settle()
    served = upstream.calls[-1]
    for _ in range(12):
        await Worker().run(r, upstream)
    return [served, *upstream.calls[1:]]


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    settings.REDIS_URL = ""
    monkeypatch.setenv(SOCKET_ENV, socket_path)
    limits.reset()
    routing.reset()
    yield running
    limits.reset()
    routing.reset()
    running.stop()


async def test_workers_of_a_server_steer_a_prefix_to_the_deployment_that_served_it(
    service, monkeypatch
) -> None:
    asked: list[str] = []
    real = counters.SharedCounters.ask

    async def ask(self, *request):
        asked.append(request[0])
        return await real(self, *request)

    monkeypatch.setattr(counters.SharedCounters, "ask", ask)
    r = route("pair", "a", "b")
    picks = await steered_by_another(r)
    assert len(set(picks)) == 1  # 12 of 12 on the first's deployment (chance: 1 in 4,096)
    # each of the 13 workers asked once (the first found nothing) and told what it served
    assert asked.count("affinity_get") == 13 and asked.count("affinity_put") == 13
    # a worker that learned it asks no more
    worker = Worker()
    await worker.run(r, Upstream())
    asked.clear()
    await worker.run(r, Upstream())
    assert "affinity_get" not in asked


async def test_no_prefix_or_one_deployment_costs_no_round_trip(service, monkeypatch) -> None:
    asked: list[str] = []
    real = counters.SharedCounters.ask

    async def ask(self, *request):
        asked.append(request[0])
        return await real(self, *request)

    monkeypatch.setattr(counters.SharedCounters, "ask", ask)
    await routing.run(snapshot(r := route("pair", "a", "b")), r, Upstream(), [])  # no prefix
    one = route("one", "a")
    await routing.run(snapshot(one), one, Upstream(), [], prefix=PREFIX)
    await settle()
    assert [op for op in asked if op.startswith("affinity")] == []


async def test_a_store_that_is_away_leaves_each_worker_to_steer_alone(service) -> None:
    r = route("pair", "a", "b")
    service.stop()
    assert await routing.run(snapshot(r), r, Upstream(), [], prefix=PREFIX)
    await settle()
    assert routing.affinity.preferred("pair", PREFIX, routing.clock()) is not None


@pytest.fixture
async def redis_store(settings, monkeypatch, own_redis):
    client = await own_redis(REDIS_URL)
    settings.REDIS_URL = REDIS_URL
    monkeypatch.delenv(SOCKET_ENV, raising=False)
    limits.reset()
    routing.reset()
    yield client
    routing.reset()
    limits.reset()


@pytest.mark.services
async def test_instances_share_affinity_through_redis(redis_store) -> None:
    r = route("pair", "a", "b")
    picks = await steered_by_another(r)
    assert len(set(picks)) == 1
    found = await shared_affinity.recall("pair", PREFIX)
    assert found is not None and 0 < found[1] <= prefix_affinity.warm_seconds(r.deployments[0])
