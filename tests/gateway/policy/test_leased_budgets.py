"""Workers admitting against budget leases (gateway/policy/leased_budgets.py) over a real
counter service: a key whose only limit is its budget costs no round trip while the
lease has room, what it spent reaches the service, and two workers still never admit
past the budget."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import pytest

from gateway.base.counters import SOCKET_ENV, Unavailable
from gateway.errors import RateLimited
from gateway.policy import leased_budgets, limits
from gateway.policy.leased_budgets import Leased
from gateway.server.counter_service import CounterService
from tests.gateway.policy.test_limits import START, key

COST = Decimal("0.001")  # a request's hold in these tests
UNITS = 100_000  # COST in 1e-8 USD


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 30.0
    monkeypatch.setattr(limits, "now", lambda: START)

    async def no_spend(key_id, start, end_user=None):
        return Decimal(0)

    monkeypatch.setattr(limits, "load_spend", no_spend)
    limits.reset()
    running = CounterService(socket_path)
    running.start()
    yield running
    running.stop()
    limits.reset()


def counted(worker: limits.SharedCounters) -> list[list[object]]:
    """The requests ``worker`` sends the service from now on."""
    sent: list[list[object]] = []
    call = worker.client.call

    async def counting(*request):
        sent.append(list(request))
        return await call(*request)

    worker.client.call = counting  # type: ignore[method-assign]
    return sent


def spend(service: CounterService, k) -> int:
    return service.store.limits.spend.get((k.id, "m2026-03"), 0)


def leased(service: CounterService, k) -> int:
    return service.store.limits.leases.held(k.id, "m2026-03", START)


async def test_a_key_with_only_a_budget_asks_the_service_once_for_many_requests(
    service, monkeypatch
):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(budget_usd=COST * 100)
    sent = counted(limits._backend())  # type: ignore[arg-type]
    for n in range(12):
        reservation = await limits.admit(k, "r", 10, hold_usd=COST)
        assert isinstance(reservation.handle, Leased)
        await reservation.settle(10, COST / 2)
        if n == 0:  # the top-up, asked again with the spend read from the log
            assert [request[0] for request in sent] == ["lease", "lease"]
    assert len(sent) == 2, "no round trip for the next eleven requests"
    # what they spent reaches the service once the lease is idle, and the lease goes back
    await asyncio.sleep(leased_budgets.IDLE_SECONDS * 4)
    assert spend(service, k) == 12 * UNITS // 2
    assert leased(service, k) == 0
    assert limits._backend().leases.leases == {}  # type: ignore[union-attr]


async def test_two_workers_one_request_at_a_time_spend_exactly_the_budget(service):
    workers = [limits.SharedCounters(service.path) for _ in range(2)]
    k = key(budget_usd=COST * 10)
    admitted, refusals = 0, []
    for n in range(14):
        worker = workers[n % 2]
        try:
            handle = await worker.admit(k, 10, START, UNITS)
        except RateLimited as exc:
            refusals.append(exc)
            continue
        admitted += 1
        await worker.settle(k, handle, 0, COST, START)
    assert admitted == 10
    assert [e.code for e in refusals] == ["budget_exceeded"] * 4
    for worker in workers:
        await worker.leases.return_all()
    assert spend(service, k) == 10 * UNITS and leased(service, k) == 0


async def test_a_request_needing_another_worker_s_room_gets_it_once_asked_back(
    service, monkeypatch
):
    """Neither the idle return nor the wait's deadline can come within the test: the
    other worker gives its room back because the service asked it to."""
    monkeypatch.setattr(leased_budgets, "IDLE_SECONDS", 60.0)
    monkeypatch.setattr("gateway.policy.budget_leases.WAIT_SECONDS", 60.0)
    a, b = limits.SharedCounters(service.path), limits.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    first = await a.admit(k, 10, START, UNITS)
    await a.settle(k, first, 0, COST, START)
    assert leased(service, k) == 16 * UNITS  # a leases 16, 15 of them unused
    big = await asyncio.wait_for(b.admit(k, 10, START, 90 * UNITS), 5)
    assert isinstance(big, Leased)
    assert spend(service, k) == UNITS  # a's report came with its room
    with pytest.raises(RateLimited):  # contended now: a asks for each request
        await asyncio.wait_for(a.admit(k, 10, START, 10 * UNITS), 5)


async def test_an_edited_budget_is_asked_of_the_service_not_taken_from_the_lease(service):
    worker = limits.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    await worker.admit(k, 10, START, UNITS)  # 15 units of room left in the lease
    smaller = dataclasses.replace(k, budget_usd=COST * Decimal("1.5"))
    with pytest.raises(RateLimited) as raised:
        await worker.admit(smaller, 10, START, UNITS)
    assert raised.value.code == "budget_exceeded" and "fewer max_tokens" not in raised.value.message


async def test_a_stopping_worker_reports_its_leases(service, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    monkeypatch.setattr(leased_budgets, "IDLE_SECONDS", 60.0)
    k = key(budget_usd=COST * 100)
    for _ in range(3):
        reservation = await limits.admit(k, "r", 10, hold_usd=COST)
        await reservation.settle(10, COST)
    assert spend(service, k) == 0 and leased(service, k) == 16 * UNITS
    await limits.return_leases()
    assert spend(service, k) == 3 * UNITS and leased(service, k) == 0


async def test_a_lost_service_fails_the_top_up_and_a_leased_request_still_settles(service):
    worker = limits.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    handle = await worker.admit(k, 10, START, UNITS)
    service.stop()
    await asyncio.sleep(0.05)
    with pytest.raises(Unavailable):
        await worker.admit(k, 10, START, 20 * UNITS)  # more than the lease has
    await worker.settle(k, handle, 0, COST, START)  # in the lease: nothing to fail
    assert worker.leases.leases[(k.id, "m2026-03")].unreported == UNITS


async def test_a_closed_connection_takes_its_worker_s_leases_with_it(service):
    """A killed worker's lease does not hold the budget until its time to live ends."""
    dead, alive = limits.SharedCounters(service.path), limits.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    await dead.admit(k, 10, START, UNITS)  # leased with room for 15 more, never settled
    assert leased(service, k) == 16 * UNITS
    dead.client._writer.close()  # type: ignore[union-attr]
    await asyncio.sleep(0.05)
    assert leased(service, k) == 0
    assert isinstance(await alive.admit(k, 10, START, 100 * UNITS), Leased)
    assert dead.leases.leases[(k.id, "m2026-03")].free == 0  # and it admits from none
