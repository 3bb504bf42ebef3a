"""Workers admitting against budget leases (gateway/limits/leased_limits.py) over a real
counter service: a key whose only limit is its budget costs no round trip while the
lease has room, what it spent reaches the service, and two workers still never admit
past the budget."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from gateway.base.counters import SOCKET_ENV, Unavailable
from gateway.base.errors import RateLimited
from gateway.limits import counters, leased_limits, limits, subjects
from gateway.limits import spend as spending
from gateway.limits.leased_limits import BUDGET, Leased, Line
from gateway.server.counter_service import CounterService
from tests.gateway.limits.test_limits import START, key

COST = Decimal("0.001")  # a request's hold in these tests
UNITS = 100_000  # COST in 1e-8 USD


@pytest.fixture
def service(socket_path, settings, monkeypatch):
    settings.REDIS_URL = ""
    settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 30.0
    monkeypatch.setattr(spending, "now", lambda: START)

    async def no_spend(key_id, start, end_user=None):
        return Decimal(0)

    monkeypatch.setattr(spending, "load_spend", no_spend)
    limits.reset()
    running = CounterService(socket_path)
    running.start()
    yield running
    running.stop()
    limits.reset()


def counted(worker: counters.SharedCounters) -> list[list[object]]:
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
    await asyncio.sleep(leased_limits.IDLE_SECONDS * 4)
    assert spend(service, k) == 12 * UNITS // 2
    assert leased(service, k) == 0
    assert limits._backend().leases.leases == {}  # type: ignore[union-attr]


async def test_a_leased_request_is_settled_at_the_reply_without_a_task(service, monkeypatch):
    # Call.finish starts a background task only for a settlement that may wait: one
    # against this worker's lease is bookkeeping in memory, done by a loop callback
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(budget_usd=COST * 100, tpm_limit=10_000)
    sent = counted(limits._backend())  # type: ignore[arg-type]
    reservation = await limits.admit(k, "r", 10, hold_usd=COST)
    handle = reservation.handle
    assert isinstance(handle, Leased)
    holds = [(lease, lease.in_flight, lease.free) for lease, _ in handle.holds]
    tokens = [(lease, lease.free, lease.unreported) for lease, _ in handle.tokens]
    asked = len(sent)
    assert reservation.settlement(25, COST / 4) is None
    assert reservation.settled
    await asyncio.sleep(0)  # after the reply is written: the loop's next callbacks
    for lease, in_flight, free in holds:  # the hold went back, a quarter of it spent
        assert lease.in_flight == in_flight - UNITS
        assert lease.free == free + UNITS - UNITS // 4
        assert lease.unreported == UNITS // 4
    # 25 tokens used, 10 estimated: the 15 more taken from the tpm lease of its second
    assert tokens and all(
        lease.free == free - 15 and lease.unreported == unreported + 15 and not lease.fixes
        for lease, free, unreported in tokens
    )
    assert len(sent) == asked  # nothing asked of the service
    assert reservation.settlement(25, COST / 4) is None  # once
    assert all(lease.unreported == UNITS // 4 for lease, _ in handle.holds)


async def test_an_end_user_s_leased_request_is_settled_without_a_task_and_its_budget_holds(
    service, monkeypatch
):
    """A key with a budget per end user: the key's and the end user's reservations both
    admitted from leases are settled by loop callbacks (no task), each counting its cost
    once; the end user's budget still refuses once spent, the next end user is admitted."""
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(budget_usd=COST * 100, max_budget_per_user=COST * 3)
    for _ in range(3):
        reservation = await limits.admit(k, "r", 10, hold_usd=COST, end_user="bob")
        user = reservation.end_user
        assert user is not None and isinstance(user.handle, Leased)
        assert isinstance(reservation.handle, Leased)
        ((hold, _),), ((user_hold, _),) = reservation.handle.holds, user.handle.holds
        assert user_hold.in_flight == UNITS
        told = (hold.unreported, user_hold.unreported)
        assert reservation.settlement(10, COST) is None  # no task to start
        assert reservation.settled and user.settled
        await asyncio.sleep(0)  # the loop's callbacks: the holds back, the costs counted
        assert user_hold.in_flight == 0 and hold.in_flight == 0
        assert (hold.unreported, user_hold.unreported) == (told[0] + UNITS, told[1] + UNITS)
        assert reservation.settlement(10, COST) is None  # once
        await asyncio.sleep(0)
        assert (hold.unreported, user_hold.unreported) == (told[0] + UNITS, told[1] + UNITS)
    with pytest.raises(RateLimited) as refused:
        await limits.admit(k, "r", 10, hold_usd=COST, end_user="bob")
    assert "end user" in refused.value.message
    other = await limits.admit(k, "r", 10, hold_usd=COST, end_user="eve")
    assert other.end_user is not None and isinstance(other.end_user.handle, Leased)


async def test_an_end_user_s_settlement_that_must_ask_the_counters_is_a_task(service):
    """Where a reservation of the request was not admitted from a lease (this process's
    own counters), its settle may wait: the whole settlement is handed back to run."""
    k = key(budget_usd=COST * 100, max_budget_per_user=COST * 3)  # no counter service here
    reservation = await limits.admit(k, "r", 10, hold_usd=COST, end_user="bob")
    assert reservation.end_user is not None
    assert not isinstance(reservation.end_user.handle, Leased)
    settling = reservation.settlement(10, COST)
    assert settling is not None and not reservation.settled
    await settling
    assert reservation.settled and reservation.end_user.settled


async def test_two_workers_one_request_at_a_time_spend_exactly_the_budget(service):
    workers = [counters.SharedCounters(service.path) for _ in range(2)]
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
    monkeypatch.setattr(leased_limits, "IDLE_SECONDS", 60.0)
    monkeypatch.setattr("gateway.limits.limit_leases.WAIT_SECONDS", 60.0)
    a, b = counters.SharedCounters(service.path), counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    first = await a.admit(k, 10, START, UNITS)
    await a.settle(k, first, 0, COST, START)
    assert leased(service, k) == 16 * UNITS  # a leases 16, 15 of them unused
    big = await asyncio.wait_for(b.admit(k, 10, START, 90 * UNITS), 5)
    assert isinstance(big, Leased)
    assert spend(service, k) == UNITS  # a's report came with its room
    with pytest.raises(RateLimited):  # contended now: a asks for each request
        await asyncio.wait_for(a.admit(k, 10, START, 10 * UNITS), 5)


async def two_workers_leasing(service):
    """Two workers, each holding a lease of a 100-request budget (its request's hold
    given back): the room a charge outside the leases must ask back."""
    a, b = counters.SharedCounters(service.path), counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    for worker in (a, b):
        handle = await worker.admit(k, 10, START, UNITS)
        assert isinstance(handle, Leased)
        await worker.settle(k, handle, 0, Decimal(0), START)
    return a, b, k


async def test_a_budget_spent_by_a_charge_is_not_admitted_from_any_worker_s_lease(
    service, monkeypatch
):
    """A realtime or Live session's turns are charged as they go, outside the leases
    (their spend added, then the budget probed with nothing held): once the probe finds
    the budget spent, no worker admits from the room it still leases (the service asks
    for it back), however long its leases would live."""
    monkeypatch.setattr(leased_limits, "IDLE_SECONDS", 60.0)
    a, b, k = await two_workers_leasing(service)
    with pytest.raises(RateLimited):  # a session's turn spends the whole budget
        await limits._charge(a, k, None, COST * 100)
    assert spend(service, k) == 100 * UNITS
    for worker in (a, b):
        with pytest.raises(RateLimited) as refused:
            await asyncio.wait_for(worker.admit(k, 10, START, UNITS), 5)
        assert refused.value.code == "budget_exceeded"
    await asyncio.sleep(0.05)  # the room given back
    assert leased(service, k) == 0


async def test_a_charge_that_leaves_less_room_than_is_leased_asks_the_leases_back(
    service, monkeypatch
):
    """A session's turn charged outside the leases brings the spend near the budget, not
    to it (its probe passes): the room workers lease beyond what is left is asked back,
    so the requests admitted after it spend the budget exactly, not a lease's worth
    more, however long the leases would live."""
    monkeypatch.setattr(leased_limits, "IDLE_SECONDS", 60.0)
    a, b, k = await two_workers_leasing(service)
    assert leased(service, k) > UNITS
    await limits._charge(a, k, None, COST * 99)  # one request's worth left
    admitted = 0
    for worker in (a, b, a):
        while True:
            try:
                handle = await asyncio.wait_for(worker.admit(k, 10, START, UNITS), 5)
            except RateLimited:
                break
            admitted += 1
            await worker.settle(k, handle, 0, COST, START)
    for worker in (a, b):
        await worker.leases.return_all()
    assert (admitted, spend(service, k)) == (1, 100 * UNITS)


async def test_an_edited_budget_is_asked_of_the_service_not_taken_from_the_lease(service):
    worker = counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    await worker.admit(k, 10, START, UNITS)  # 15 units of room left in the lease
    smaller = dataclasses.replace(k, budget_usd=COST * Decimal("1.5"))
    with pytest.raises(RateLimited) as raised:
        await worker.admit(smaller, 10, START, UNITS)
    assert raised.value.code == "budget_exceeded" and "fewer max_tokens" not in raised.value.message


async def test_a_stopping_worker_reports_its_leases(service, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    monkeypatch.setattr(leased_limits, "IDLE_SECONDS", 60.0)
    k = key(budget_usd=COST * 100)
    for _ in range(3):
        reservation = await limits.admit(k, "r", 10, hold_usd=COST)
        await reservation.settle(10, COST)
    assert spend(service, k) == 0 and leased(service, k) == 16 * UNITS
    returner = limits._backend().leases._returner  # type: ignore[union-attr]
    assert returner is not None and not returner.done()
    await limits.return_leases()
    assert spend(service, k) == 3 * UNITS and leased(service, k) == 0
    await asyncio.sleep(0)
    assert returner.cancelled(), "nothing left pending when the worker's loop closes"


async def test_a_lost_service_fails_the_top_up_and_a_leased_request_still_settles(service):
    worker = counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    handle = await worker.admit(k, 10, START, UNITS)
    service.stop()
    await asyncio.sleep(0.05)
    with pytest.raises(Unavailable):
        await worker.admit(k, 10, START, 20 * UNITS)  # more than the lease has
    await worker.settle(k, handle, 0, COST, START)  # in the lease: nothing to fail
    lease, _ = handle.holds[0]
    assert lease.unreported == UNITS  # told when the service is back
    assert worker.leases.leases.get((k.id, "m2026-03")) is not lease


async def test_a_closed_connection_takes_its_worker_s_leases_with_it(service):
    """A killed worker's lease does not hold the budget until its time to live ends."""
    dead, alive = counters.SharedCounters(service.path), counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    await dead.admit(k, 10, START, UNITS)  # leased with room for 15 more, never settled
    assert leased(service, k) == 16 * UNITS
    dead.client._writer.close()  # type: ignore[union-attr]
    await asyncio.sleep(0.05)
    assert leased(service, k) == 0
    assert isinstance(await alive.admit(k, 10, START, 100 * UNITS), Leased)
    assert dead.leases.leases == {}  # and it admits from none of them


async def test_room_a_lost_lease_s_request_gives_back_is_not_admitted_from(service):
    """The service let a lost connection's leases go: a request in flight from one that
    settles must not put its hold back into room the worker could admit from."""
    worker = counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 100)
    handle = await worker.admit(k, 10, START, UNITS)
    worker.client._writer.close()  # type: ignore[union-attr]
    await asyncio.sleep(0.05)
    await worker.settle(k, handle, 0, Decimal(0), START)  # failed: its hold comes back
    budget = Line((k.id, "m2026-03"), 100 * UNITS, BUDGET)
    assert worker.leases.take([budget], UNITS, 0, int(START)) is None


# --- rpm limits, and a key's team ---------------------------------------------------------


def window(service: CounterService, counter) -> dict[int, int]:
    """The requests of ``counter``'s window, by second."""
    found = service.store.limits.windows.get(counter)
    return {} if found is None else {second: n for second, n, _ in found.buckets}


async def test_an_rpm_limit_is_leased_a_second_at_a_time(service, monkeypatch):
    clock = [START]
    monkeypatch.setattr(spending, "now", lambda: clock[0])
    worker = counters.SharedCounters(service.path)
    sent = counted(worker)
    k = key(rpm_limit=1000)
    for _ in range(12):
        assert isinstance(await worker.admit(k, 10, clock[0]), Leased)
    assert len(sent) == 1, "one top-up for the second's twelve requests"
    clock[0] = START + 1  # a new second: a new lease, the last one's requests reported
    assert isinstance(await worker.admit(k, 10, clock[0]), Leased)
    assert len(sent) == 2
    await worker.leases.return_all()
    assert window(service, k.id) == {int(START): 12, int(START) + 1: 1}
    assert leased(service, k) == 0 and service.store.limits.leases.held(k.id, "rpm", START) == 0


async def test_a_busy_key_s_lease_grows_and_a_quiet_key_s_starts_small_again(service, monkeypatch):
    """A line that runs short again within a second of its top-up asks for twice as many
    requests' worth each time (a key 1,500 requests a second asked 90 times a second
    with 16 at a time), up to ``MAX_LEASE_REQUESTS``; after a quiet second it asks for
    ``LEASE_REQUESTS`` again, and the window counts exactly the requests admitted."""
    clock = [START]
    monkeypatch.setattr(spending, "now", lambda: clock[0])
    worker = counters.SharedCounters(service.path)
    sent = counted(worker)
    k = key(rpm_limit=1_000_000)
    base = leased_limits.LEASE_REQUESTS
    for _ in range(base + 2 * base + 4 * base):  # 16, then 32, then 64 of one second
        assert isinstance(await worker.admit(k, 10, clock[0]), Leased)
    assert len(sent) == 3, "three top-ups, not seven"
    assert [request[5][0][8] for request in sent] == [base, 2 * base, 4 * base]
    await worker.leases.return_all()
    assert window(service, k.id) == {int(START): 7 * base}
    assert service.store.limits.leases.held(k.id, "rpm", START) == 0
    quiet = worker.leases.leases[(k.id, "rpm")]  # nothing admitted nor topped up since
    quiet.topped -= leased_limits.IDLE_SECONDS
    quiet.used_at -= leased_limits.IDLE_SECONDS
    clock[0] = START + 2
    assert isinstance(await worker.admit(k, 10, clock[0]), Leased)
    assert sent[-1][5][0][8] == base, "a quiet key asks for the first lease's size again"


async def test_an_rpm_limit_is_exact_across_two_workers_one_request_at_a_time(service):
    workers = [counters.SharedCounters(service.path) for _ in range(2)]
    k = key(rpm_limit=5)
    outcomes = []
    for n in range(9):
        try:
            outcomes.append(type(await workers[n % 2].admit(k, 10, START)).__name__)
        except RateLimited as exc:
            assert exc.code == "rate_limit_exceeded" and exc.retry_after == 60
            outcomes.append("refused")
    assert outcomes == ["Leased"] * 5 + ["refused"] * 4


async def test_a_key_and_its_team_are_admitted_from_their_leases_and_refused_as_the_team(
    service, monkeypatch
):
    from tests.gateway.limits.test_limits_team import team

    monkeypatch.setenv(SOCKET_ENV, service.path)

    async def no_counter_spend(counter_id, start):
        return Decimal(0)

    monkeypatch.setattr(spending, "load_counter_spend", no_counter_spend)
    crew = team(budget_usd=COST * 100, rpm_limit=1000)
    a, b = key(team=crew, budget_usd=COST * 100, rpm_limit=100), key(team=crew)
    sent = counted(limits._backend())  # type: ignore[arg-type]
    for n in range(10):
        reservation = await limits.admit(a if n % 2 else b, "r", 10, hold_usd=COST)
        assert isinstance(reservation.handle, Leased) and reservation.handle.subjects
        await reservation.settle(10, COST)
    top_ups = {request[3] for request in sent}  # their sequence numbers (a load asks twice)
    assert len(top_ups) == 2, "one top-up for each key's first request, not one a request"
    await limits.return_leases()
    assert service.store.limits.spend[(-crew.id, "total")] == 10 * UNITS
    assert service.store.limits.spend[(a.id, "m2026-03")] == 5 * UNITS
    # a team budget spent through two keys' leases: refused as the team's
    small = team(budget_usd=COST * 3)
    c, d = key(team=small), key(team=small)
    for n in range(3):
        reservation = await limits.admit(c if n % 2 else d, "r", 10, hold_usd=COST)
        await reservation.settle(10, COST)
    with pytest.raises(RateLimited) as raised:
        await limits.admit(c, "r", 10, hold_usd=COST)
    assert (
        raised.value.code == "budget_exceeded" and "team research's budget" in raised.value.message
    )


@pytest.fixture
def team_key(service, monkeypatch):
    """(a team with a budget and an rpm limit, a key of it with both), counted by the
    service; the spends start at nothing."""
    from tests.gateway.limits.test_limits_team import team

    monkeypatch.setenv(SOCKET_ENV, service.path)

    async def no_counter_spend(counter_id, start):
        return Decimal(0)

    monkeypatch.setattr(spending, "load_counter_spend", no_counter_spend)
    crew = team(budget_usd=COST * 100, rpm_limit=1000)
    return crew, key(team=crew, budget_usd=COST * 100, rpm_limit=100)


async def test_a_team_key_s_leased_admission_awaits_nothing_of_the_backend(
    service, team_key, monkeypatch
):
    """Once its leases have room, a key of a team is admitted from them by a plain call
    (``SharedCounters.take_joint``): no coroutine of the backend, no round trip."""
    crew, k = team_key
    first = await limits.admit(k, "r", 10, hold_usd=COST)  # the top-up
    await first.settle(10, COST)
    backend = limits._backend()
    sent = counted(backend)  # type: ignore[arg-type]

    async def asked(*args: Any) -> Any:
        raise AssertionError("admitted through the backend's coroutine")

    monkeypatch.setattr(backend, "admit_joint", asked)
    for _ in range(3):
        reservation = await limits.admit(k, "r", 10, hold_usd=COST)
        assert isinstance(reservation.handle, Leased) and reservation.backend is backend
        await reservation.settle(10, COST)
    assert sent == []
    await limits.return_leases()
    assert service.store.limits.spend[(-crew.id, "total")] == 4 * UNITS


async def test_a_service_without_leases_is_asked_as_before(service, monkeypatch):
    """A rolling reload's new worker beside a supervisor that predates leases."""
    monkeypatch.delitem(limits_book_ops(), "lease")
    worker = counters.SharedCounters(service.path)
    k = key(rpm_limit=2, budget_usd=COST * 100)
    assert isinstance(await worker.admit(k, 10, START, UNITS), subjects.Admission)
    assert isinstance(await worker.admit(k, 10, START, UNITS), subjects.Admission)
    with pytest.raises(RateLimited):
        await worker.admit(k, 10, START, UNITS)
    assert worker.leasing is False


def limits_book_ops() -> dict:
    from gateway.base import hooks

    return hooks.counter_ops._entries


def tpm_worker(
    service: CounterService, monkeypatch: pytest.MonkeyPatch
) -> tuple[list[float], counters.SharedCounters, list[Any], Any]:
    """A worker on a clock of the test's, its requests to the service, a key with a tpm
    limit."""
    clock = [START]
    monkeypatch.setattr(spending, "now", lambda: clock[0])
    worker = counters.SharedCounters(service.path)
    return clock, worker, counted(worker), key(tpm_limit=10_000)


async def test_a_tpm_limit_is_leased_and_a_correction_lands_in_its_request_s_second(
    service, monkeypatch
):
    clock, worker, sent, k = tpm_worker(service, monkeypatch)
    first = await worker.admit(k, 100, clock[0])
    assert isinstance(await worker.admit(k, 100, clock[0]), Leased)
    assert len(sent) == 1, "the second request's tokens came out of the lease"
    clock[0] = START + 1
    await worker.admit(k, 100, clock[0])
    await worker.settle(k, first, -60, Decimal(0), clock[0])  # it used 40 tokens, not 100
    await worker.leases.return_all()
    tokens = {second: n for second, _, n in service.store.limits.windows[k.id].buckets}
    assert tokens == {int(START): 140, int(START) + 1: 100}
    assert service.store.limits.leases.held(k.id, "tpm", START + 1) == 0


async def test_a_correction_its_second_s_tpm_lease_has_room_for_is_told_with_the_lease(
    service, monkeypatch
):
    """No report of its own: the tokens beyond the estimate come out of the lease the
    service counts already, and land in the request's second when the lease is told."""
    clock, worker, sent, k = tpm_worker(service, monkeypatch)
    first = await worker.admit(k, 100, clock[0])
    await worker.settle(k, first, 50, Decimal(0), clock[0])  # 150 tokens used
    second = await worker.admit(k, 100, clock[0])
    await worker.settle(k, second, -40, Decimal(0), clock[0])  # 60 used
    await asyncio.sleep(leased_limits.REPORT_SECONDS * 2)
    assert len(sent) == 1, "the top-up only: nothing due before the lease is idle"
    await worker.leases.return_all()
    tokens = {second: n for second, _, n in service.store.limits.windows[k.id].buckets}
    assert tokens == {int(START): 210}
    assert service.store.limits.leases.held(k.id, "tpm", START) == 0


async def test_a_correction_the_lease_cannot_hold_is_told_soon_while_the_round_sleeps(
    service, monkeypatch
):
    """Tokens beyond what the lease has room for are reported within REPORT_SECONDS
    though the background round sleeps until the lease's idle report (a minute here);
    a second such correction while the first waits is told as soon."""
    monkeypatch.setattr(leased_limits, "IDLE_SECONDS", 60.0)
    clock, worker, sent, k = tpm_worker(service, monkeypatch)
    for n, extra in enumerate((5_000, 3_000)):
        handle = await worker.admit(k, 100, clock[0])
        assert isinstance(handle, Leased)
        await worker.settle(k, handle, extra, Decimal(0), clock[0])
        assert worker.leases.leases[(k.id, "tpm")].fixes, "more than the lease holds"
        await asyncio.sleep(leased_limits.REPORT_SECONDS * 4)
        assert len(sent) == 2 + n, "the top-up, then each correction told on its own"
    tokens = {second: n for second, _, n in service.store.limits.windows[k.id].buckets}
    assert tokens == {int(START): 8_200}
    await worker.leases.return_all()


async def test_a_burst_in_one_worker_waits_one_round_trip_for_its_own_report(service, monkeypatch):
    """The requests that do not fit wait for the worker's own complete report (it had
    not heard its grants when it asked); the service sends its ask after the answers
    of the grants, so the report made at once is complete. Neither the idle return nor
    the wait's deadline can come within the test."""
    monkeypatch.setattr(leased_limits, "IDLE_SECONDS", 60.0)
    monkeypatch.setattr("gateway.limits.limit_leases.WAIT_SECONDS", 60.0)
    worker = counters.SharedCounters(service.path)
    k = key(budget_usd=COST * 10)
    burst = [worker.admit(k, 10, START, UNITS) for _ in range(12)]
    results = await asyncio.wait_for(asyncio.gather(*burst, return_exceptions=True), 5)
    assert sum(isinstance(r, Leased) for r in results) == 10, results
    assert sum(isinstance(r, RateLimited) for r in results) == 2


async def test_a_leased_settlement_outside_the_event_loop_is_made_at_once(service, monkeypatch):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(budget_usd=COST * 100)
    reservation = await limits.admit(k, "r", 10, hold_usd=COST)
    assert isinstance(reservation.handle, Leased)
    holds = [(lease, lease.in_flight) for lease, _ in reservation.handle.holds]
    # a thread without a running loop (where a record may be completed) settles at once
    assert await asyncio.to_thread(reservation.settlement, 10, COST) is None
    assert [lease.in_flight for lease, _ in holds] == [n - UNITS for _, n in holds]


async def test_a_rounds_reports_of_every_lease_go_in_one_request(service, team_key):
    """A key with a budget and an rpm limit in a team with both holds four leases: what
    they used is reported in one request a round, not four in a row."""
    crew, k = team_key
    sent = counted(limits._backend())  # type: ignore[arg-type]
    for _ in range(3):
        reservation = await limits.admit(k, "r", 10, hold_usd=COST)
        await reservation.settle(10, COST)
    admitted = len(sent)
    await asyncio.sleep(leased_limits.IDLE_SECONDS * 4)
    reports = sent[admitted:]
    assert reports and reports[0][0] == "lease"
    assert len(reports[0][5]) == 4, "the four leases' reports in one request"
    assert len(reports) <= 2, "a round or two, one request each"
    assert service.store.limits.spend[(-crew.id, "total")] == 3 * UNITS
    assert service.store.limits.spend[(k.id, "m2026-03")] == 3 * UNITS


async def test_concurrent_admissions_at_a_new_second_share_one_top_up(service, monkeypatch):
    """At a new second each per-second lease is stale: the requests that arrive before
    the first top-up is answered wait for it and are admitted from its grant, instead of
    each sending a top-up of its own (eight at c=8); the window still counts each one."""
    clock = [START]
    monkeypatch.setattr(spending, "now", lambda: clock[0])
    worker = counters.SharedCounters(service.path)
    sent = counted(worker)
    k = key(rpm_limit=1000)
    assert isinstance(await worker.admit(k, 10, clock[0]), Leased)
    clock[0] = START + 1
    admitted = await asyncio.gather(*(worker.admit(k, 10, clock[0]) for _ in range(8)))
    assert all(isinstance(one, Leased) for one in admitted)
    assert [request[0] for request in sent] == ["lease", "lease"], "one top-up a second"
    await worker.leases.return_all()
    assert window(service, k.id) == {int(START): 1, int(START) + 1: 8}


async def test_concurrent_admissions_sharing_a_top_up_stay_within_the_limit(service):
    """Requests waiting for another's top-up are admitted only as far as its grant and
    the limit go: of eight at once under an rpm limit of five, five are admitted."""
    worker = counters.SharedCounters(service.path)
    k = key(rpm_limit=5)
    outcomes = await asyncio.gather(
        *(worker.admit(k, 10, START) for _ in range(8)), return_exceptions=True
    )
    assert sum(isinstance(one, Leased) for one in outcomes) == 5
    assert all(isinstance(one, RateLimited | Leased) for one in outcomes)
    await worker.leases.return_all()
    assert window(service, k.id) == {int(START): 5}


async def test_a_steady_key_s_per_second_lease_is_topped_up_once_a_second(service, monkeypatch):
    """A key as busy each second as the last (100 requests a second on one worker) asks
    for its per-second lease once a second after its first: a new second's lease is
    sized by what the whole last second used (and a quarter more). It used to be halved
    when its last top-up, made late in a second that had grown it, looked oversized, and
    reset to ``LEASE_REQUESTS`` when that top-up was a second old (as each is when a
    lease is topped up once a second): two or three top-ups a second, each waited for by
    the requests that came meanwhile (issue #67's agent p99). The window counts exactly
    the requests admitted."""
    k = key(rpm_limit=1_000_000)

    async def busy(worker: counters.SharedCounters, at: float) -> None:
        for _ in range(100):
            assert isinstance(await worker.admit(k, 10, at), Leased)

    per_second, sent = await top_ups_each_second(service, monkeypatch, 5, busy)
    assert per_second == [3, 1, 1, 1, 1], "16, 32 and 64 in the first second, then 128"
    assert [request[5][0][8] for request in sent[3:7]] == [128] * 4
    assert window(service, k.id) == {int(START) + second: 100 for second in range(5)}


async def test_a_busy_budget_lease_keeps_its_size_and_a_quiet_one_starts_small(
    service, monkeypatch
):
    """A budget lease that ran short again is asked at twice its last size even when its
    last top-up is a second old (the lease lasted that long, requests kept coming); only
    a lease nothing was admitted from for ``IDLE_SECONDS`` asks for ``LEASE_REQUESTS``
    again."""
    monkeypatch.setenv(SOCKET_ENV, service.path)
    k = key(budget_usd=COST * 1_000_000)
    backend = limits._backend()
    sent = counted(backend)  # type: ignore[arg-type]
    base = leased_limits.LEASE_REQUESTS

    async def spend_one() -> None:
        reservation = await limits.admit(k, "r", 10, hold_usd=COST)
        await reservation.settle(10, COST)  # all of its hold: a lease of N lasts N requests

    for _ in range(base + 2 * base):
        await spend_one()
    (lease,) = backend.leases.leases.values()  # type: ignore[union-attr]
    lease.topped -= leased_limits.IDLE_SECONDS  # its last top-up a second ago, still busy
    for _ in range(4 * base):
        await spend_one()
    wanted = {request[3]: request[5][0][8] // UNITS for request in sent}  # by top-up
    assert list(wanted.values()) == [base, 2 * base, 4 * base]
    lease.used_at -= leased_limits.IDLE_SECONDS  # nothing admitted for a second: quiet
    lease.topped -= leased_limits.IDLE_SECONDS
    lease.free = 0  # (its room gone: the next request asks)
    await spend_one()
    assert sent[-1][5][0][8] // UNITS == base, "a quiet lease asks for the first size again"
    await limits.return_leases()


async def test_requests_waiting_for_a_top_up_go_on_one_loop_turn_after_its_answer(service):
    """The requests that wait for a top-up in flight each wait on a future of their own,
    set as soon as the answer is in: they go on in the loop's next turn (a future shared
    by all, shielded, took a turn more: on a loaded worker whose loop turns every 30-40
    ms, that much more of every such wait). A waiter cancelled meanwhile is skipped; the
    top-up and the others are not disturbed."""
    answer = asyncio.get_running_loop().create_future()

    async def ask(*request: Any) -> list[Any]:
        await answer
        return ["ok", [[100, 0] for _ in request[5]]]

    async def load(index: int) -> int:
        raise AssertionError("no budget line")

    worker = leased_limits.LeasedLimits(ask, lambda: START)
    lines = (Line((1, "rpm"), 1000, leased_limits.REQUESTS),)
    asking = asyncio.ensure_future(worker.top_up(lines, 0, 10, START, 0.0, load))
    await asyncio.sleep(0)
    waiting = [
        asyncio.ensure_future(worker.after_top_up(lines, 0, 10, int(START), ())) for _ in range(3)
    ]
    await asyncio.sleep(0)
    assert not any(one.done() for one in [asking, *waiting]), "they wait for its answer"
    waiting.pop().cancel()
    answer.set_result(None)
    await asyncio.sleep(0)  # the top-up's turn: its answer read, its waiters set
    await asyncio.sleep(0)  # theirs
    assert isinstance(asking.result(), Leased)
    assert all(one.done() and isinstance(one.result(), Leased) for one in waiting)
    assert worker.leases[(1, "rpm")].free == 100 - 3
    await worker.return_all()


async def test_a_request_whose_clock_read_the_last_second_is_counted_in_the_newest(
    service, monkeypatch
):
    """On a busy worker a request that read the clock at the end of a second may be
    admitted after others of the next: it is admitted from the newest second's lease and
    counted there, as the service counts a late caller, instead of topping the lease up
    back to its own second (and the next request forward again, each time at the first
    lease's size). A clock more than a second behind (it was set back) is not moved."""
    worker = counters.SharedCounters(service.path)
    sent = counted(worker)
    k = key(rpm_limit=1000)
    assert isinstance(await worker.admit(k, 10, START + 1), Leased)
    late = await worker.admit(k, 10, START + 0.9)
    assert isinstance(late, Leased) and late.second == int(START) + 1
    assert len(sent) == 1, "no top-up back to the second before"
    assert isinstance(await worker.admit(k, 10, START - 5), Leased)
    assert len(sent) == 2
    await worker.leases.return_all()
    assert window(service, k.id) == {int(START) - 5: 1, int(START) + 1: 2}


async def test_a_steady_tpm_lease_keeps_the_size_its_requests_in_flight_need(service, monkeypatch):
    """A tpm lease must hold the estimates of the requests in flight; each settle gives
    back what its request used less than its estimate. A key that keeps 24 requests in
    flight each second grows its lease to 32 requests' worth in its first second and
    keeps it: one top-up a second. (Its unused room at the turn of a second, the
    corrections' given back, used to halve it, and every second grew it again.)"""
    k = key(tpm_limit=1_000_000_000)

    async def busy(worker: counters.SharedCounters, at: float) -> None:
        admitted = [await worker.admit(k, 100, at) for _ in range(24)]
        for one in admitted:
            assert isinstance(one, Leased)
            worker.leases.settle(one, 0, -90)  # it used 10 tokens of its 100

    per_second, _ = await top_ups_each_second(service, monkeypatch, 4, busy)
    assert per_second == [2, 1, 1, 1]
    assert window_tokens(service, k.id) == {int(START) + second: 240 for second in range(4)}


def window_tokens(service: CounterService, counter) -> dict[int, int]:
    """The tokens of each second of ``counter``'s window."""
    buckets = service.store.limits.windows[counter].buckets
    return {second: tokens for second, _, tokens in buckets if tokens}


async def top_ups_each_second(
    service: CounterService, monkeypatch: Any, seconds: int, busy: Any
) -> tuple[list[int], list[list[object]]]:
    """A worker's top-ups in each of ``seconds`` seconds of ``busy(worker, at)``, and all
    it sent; between two seconds, a second of wall time is made to go by (its leases' last
    top-up a second older), and at the end it reports every lease."""
    clock = [START]
    monkeypatch.setattr(spending, "now", lambda: clock[0])
    worker = counters.SharedCounters(service.path)
    sent = counted(worker)
    per_second = []
    for second in range(seconds):
        clock[0] = START + second
        for lease in worker.leases.leases.values():  # a second went by since its top-up
            lease.topped -= leased_limits.IDLE_SECONDS
        before = len(sent)
        await busy(worker, clock[0])
        per_second.append(len(sent) - before)
    await worker.leases.return_all()
    return per_second, sent
