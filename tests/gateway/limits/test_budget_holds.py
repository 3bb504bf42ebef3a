"""Budgets hold what requests in flight may cost: a burst cannot spend past a key's
budget, whichever store counts (this process, the counter service of one server's
workers, Redis for several instances). A hold settles to the real cost, is given back
when the request fails, and expires when its request never settles (a killed worker)."""

from __future__ import annotations

import asyncio
import dataclasses
from decimal import Decimal

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import background, http
from gateway.base.counters import SOCKET_ENV
from gateway.base.errors import RateLimited
from gateway.core import service
from gateway.limits import counters, limits, redis_counters, spend, subjects
from gateway.limits.budget_holds import Holds
from gateway.limits.leased_limits import Leased
from gateway.limits.limits_book import CounterStore
from gateway.server.counter_service import CounterService
from tests.gateway.entries import deployment, route, snapshot
from tests.gateway.limits.test_limits import START, key

REDIS_URL = "redis://127.0.0.1:6379/13"  # keys under a prefix of each test's own
COST = Decimal("0.001")  # what each test request holds and costs
ADMITTED = (subjects.Admission, Leased)  # a request held in the store, or in a worker's lease
UNITS = 100_000  # COST in 1e-8 USD


# --- the stores -----------------------------------------------------------------------------


def test_store_holds_until_settled_and_refuses_what_does_not_fit():
    store = CounterStore()
    admit = [7, 0, 0, 0, 10 * UNITS, "total", START, 0]
    ids = [store.admit(*admit, UNITS, 60)[2] for _ in range(10)]
    assert len(set(ids)) == 10
    assert store.admit(*admit, UNITS, 60) == ["held", 0, 10 * UNITS]
    # One finished costing less than it held: its hold becomes its cost.
    assert store.settle(7, None, 0, "total", UNITS // 2, None, "total", ids[0]) == ["ok"]
    assert store.spend[(7, "total")] == UNITS // 2
    assert store.admit(*admit, UNITS, 60)[0] == "held"  # 0.5 + 9 held + 1 > 10
    # One failed before costing anything: its whole hold comes back.
    store.settle(7, None, 0, "total", 0, None, "total", ids[1])
    assert store.admit(*admit, UNITS, 60)[0] == "ok"
    store.settle(7, None, 0, "total", 0, None, "total", ids[1])  # twice: nothing more
    assert store.admit(*admit, UNITS, 60)[0] == "held"


def test_store_refuses_a_request_that_may_cost_more_than_is_left_even_alone():
    """Exact budgets (#37): a $0.01 team budget once let one $10 request through."""
    store = CounterStore()
    admit = [7, 0, 0, 0, UNITS, "total", START, 0]
    assert store.admit(*admit, 5 * UNITS, 60) == ["held", 0, 0]  # alone: more than is left
    assert store.admit(*admit, UNITS, 60)[0] == "ok"  # exactly what is left fits
    assert store.admit(*admit, 1, 60)[0] == "held"
    assert store.admit(7, 0, 0, 0, -1, "total", START, None, 5, 60) == ["ok", None]  # no budget


def test_store_holds_expire_when_never_settled():
    store = CounterStore()

    def admit(at: float) -> str:
        return store.admit(7, 0, 0, 0, 2 * UNITS, "month", at, 0, UNITS, 30)[0]

    assert [admit(START), admit(START + 10), admit(START + 20)] == ["ok", "ok", "held"]
    assert admit(START + 31) == "ok"  # the first hold expired; the second is held
    assert store.holds.held(7, "month", START + 41) == UNITS  # the third only
    assert store.holds.held(7, "month", START + 61) == 0


def test_holds_forget_a_key_and_ignore_unknown_releases():
    holds = Holds()
    first = holds.take(1, "total", 5, START + 10)
    holds.take(2, "total", 7, START + 10)
    holds.release(1, "total", 999)
    holds.release(3, "total", first)
    assert holds.held(1, "total", START) == 5
    holds.forget(1)
    assert holds.held(1, "total", START) == 0 and holds.held(2, "total", START) == 7


# --- every backend, through limits ----------------------------------------------------------


async def burst(workers, k, count: int) -> list[object]:
    calls = [workers[n % len(workers)].admit(k, 10, START, UNITS) for n in range(count)]
    return await asyncio.gather(*calls, return_exceptions=True)


async def reported(workers) -> None:
    """Until the workers' leases told the service what they settled (a worker reports
    its leases' spend just after a settle, not in it)."""
    for worker in workers:
        if isinstance(worker, counters.SharedCounters):
            await worker.leases.return_all()


async def test_a_burst_gets_exactly_what_the_budget_covers(workers):
    k = key(budget_usd=COST * 10, budget_period="month")
    results = await burst(workers, k, 30)
    admitted = [r for r in results if isinstance(r, ADMITTED)]
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(admitted) == 10 and len(refused) == 20, results
    assert all(r.code == "budget_exceeded" and r.retry_after == 1.0 for r in refused)
    assert "in flight" in refused[0].message and "$0.0100 held" in refused[0].message
    # Each settles at its real cost; the budget is then spent, whichever worker asks.
    for n, admission in enumerate(admitted):
        await workers[n % len(workers)].settle(k, admission, 0, COST, START)
    for worker in workers:
        with pytest.raises(RateLimited) as raised:
            await worker.admit(k, 10, START, UNITS)
        assert raised.value.code == "budget_exceeded" and "$0.0100 spent" in raised.value.message


async def test_a_request_alone_never_holds_more_than_is_left(workers):
    """A request that may cost more than the budget has left is refused even when
    nothing else is in flight (#37: one $10 run on a $0.01 team budget), in every store;
    one that fits exactly is admitted."""
    k = key(budget_usd=COST * 3, budget_period="month")
    with pytest.raises(RateLimited) as raised:
        await workers[0].admit(k, 10, START, 4 * UNITS)
    assert raised.value.code == "budget_exceeded" and "fewer max_tokens" in raised.value.message
    assert "$0.0030 left" in raised.value.message
    admitted = await workers[-1].admit(k, 10, START, 3 * UNITS)
    assert isinstance(admitted, ADMITTED)


async def test_a_failed_request_gives_its_hold_back(workers):
    k = key(budget_usd=COST * 2, budget_period="day")
    first = await workers[0].admit(k, 10, START, UNITS)
    second = await workers[-1].admit(k, 10, START, UNITS)
    with pytest.raises(RateLimited):
        await workers[0].admit(k, 10, START, UNITS)
    await workers[-1].settle(k, second, 0, Decimal(0), START)  # failed: no cost
    third = await workers[0].admit(k, 10, START, UNITS)
    await workers[0].settle(k, first, 0, COST, START)
    await workers[0].settle(k, third, 0, COST, START)
    with pytest.raises(RateLimited) as raised:
        await workers[-1].admit(k, 10, START, UNITS)
    assert "$0.0020 spent" in raised.value.message


async def test_an_abandoned_hold_expires(workers, settings):
    k = key(budget_usd=COST, budget_period="total")
    if isinstance(workers[0], redis_counters.RedisCounters):  # Redis keeps its own time
        settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 0.3
        await workers[0].admit(k, 10, START, UNITS)  # never settled: its worker "died"
        with pytest.raises(RateLimited):
            await workers[-1].admit(k, 10, START, UNITS)
        await asyncio.sleep(0.4)
        later = START
    else:
        await workers[0].admit(k, 10, START, UNITS)
        with pytest.raises(RateLimited):
            await workers[-1].admit(k, 10, START + 29, UNITS)
        later = START + 31
    assert isinstance(await workers[-1].admit(k, 10, later, UNITS), ADMITTED)


async def test_redis_holds_leave_nothing_behind(workers, redis_db):
    if not isinstance(workers[0], redis_counters.RedisCounters):
        pytest.skip("Redis only")
    k = key(budget_usd=COST * 10, budget_period="month")
    admission = await workers[0].admit(k, 10, START, UNITS)
    holds, expiries = redis_counters.RedisCounters.hold_names(k, admission.period)
    assert 0 < await redis_db.ttl(holds) <= 30 + 60
    await workers[1].settle(k, admission, 0, Decimal(0), START)
    assert int(await redis_db.hget(holds, "total")) == 0
    assert await redis_db.zcard(expiries) == 0


async def test_a_burst_shares_a_bounded_pool_of_redis_connections(clean, redis_db):
    """200 admissions at once on one worker queue for at most REDIS_CONNECTIONS
    connections. With one connection per admission in flight, some timed out
    connecting on a loaded machine, and those requests were admitted on the process's
    own counts: a budget for 10 served 20 of a burst across two instances."""
    counters = redis_counters.RedisCounters(REDIS_URL)
    k = key(budget_usd=COST * 1000, budget_period="month")
    results = await asyncio.gather(*(counters.admit(k, 10, START, UNITS) for _ in range(200)))
    assert all(isinstance(r, subjects.Admission) for r in results)
    pool = counters.client().connection_pool
    opened = len(pool._available_connections) + len(pool._in_use_connections)
    assert 1 <= opened <= redis_counters.REDIS_CONNECTIONS < 200
    await counters.client().aclose()


async def test_keys_without_a_budget_send_nothing_more(clean, socket_path, monkeypatch):
    running = CounterService(socket_path)
    running.start()
    try:
        monkeypatch.setenv(SOCKET_ENV, socket_path)
        seen: list[list] = []
        answer = running.store.answer
        monkeypatch.setattr(
            running.store, "answer", lambda request: seen.append(request) or answer(request)
        )
        reservation = await limits.admit(key(rpm_limit=10), "echo", 100, Decimal("0.5"))
        await reservation.settle(250, Decimal("0.01"))
        assert [r[0] for r in seen] == ["lease"]
        assert [line[1] for line in seen[0][5]] == ["rpm"]  # no budget line, no hold asked
        seen.clear()
        budgeted = key(rpm_limit=10, budget_usd=Decimal(1))
        reservation = await limits.admit(budgeted, "echo", 100, Decimal("0.5"))
        await reservation.settle(250, Decimal(0))  # failed: the hold goes back to the lease
        assert [r[0] for r in seen] == ["lease", "lease"]  # spend loaded once
        assert running.store.limits.holds.held(budgeted.id, "m2026-03", START) == 0
    finally:
        running.stop()


# --- what a request holds -------------------------------------------------------------------


# --- through service.handle: success settles, failure releases ------------------------------


async def ask(k) -> int:
    body = {"model": "paid", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
    reply = await service.handle("chat", "openai", orjson.dumps(body), {}, service.Caller(key=k))
    await background.done()
    return reply.status


async def test_a_request_holds_while_it_runs_and_settles_to_its_cost(gateway):
    state, recorded = gateway
    k = state["key"] = key(budget_usd=Decimal("0.01"), budget_period="total")
    assert await ask(k) == 200
    # held while upstream ran: (prompt estimate + 50 output) tokens at $10/M
    assert state["holds_seen"][0] > 50 * 1000
    assert limits.memory.store.holds.held(k.id, "total", START) == 0
    assert recorded[0].cost_usd == Decimal("0.00015")
    assert limits.memory.store.spend[(k.id, "total")] == 15_000


async def test_a_failed_request_releases_its_hold(gateway):
    state, recorded = gateway
    k = state["key"] = key(budget_usd=Decimal("0.01"), budget_period="total")
    state["status"] = 400
    assert await ask(k) == 400
    assert state["holds_seen"][0] > 0
    assert limits.memory.store.holds.held(k.id, "total", START) == 0
    assert limits.memory.store.spend[(k.id, "total")] == 0


async def test_a_running_request_charges_its_cost_once(workers):
    """``charge`` (a realtime session's responses) adds to the spend at once, keeping
    the hold, and says when the budget is spent; ``settle`` then adds only the rest."""
    k = key(budget_usd=COST * 3, budget_period="month")
    handle = await workers[0].admit(k, 0, START, UNITS)
    running = limits.Reservation(key=k, route="rt", estimated_tokens=0, backend=workers[0],
                                 handle=handle)  # fmt: skip
    assert await running.charge(COST) is None
    with pytest.raises(RateLimited) as raised:  # the session's hold still counts
        await workers[-1].admit(k, 10, START, UNITS * 2)
    assert "$0.0010 spent" in raised.value.message and "$0.0010 held" in raised.value.message
    refusal = await running.charge(COST * 2)
    assert refusal is not None and refusal.code == "budget_exceeded"
    assert "is exhausted ($0.0030 spent)" in refusal.message
    await running.settle(0, COST * 3 + COST)  # the whole cost: only the last COST is new
    await reported(workers)
    with pytest.raises(RateLimited) as raised:
        await workers[-1].admit(k, 10, START, UNITS)
    assert "($0.0040 spent)" in raised.value.message


async def test_a_running_request_charges_its_teams_budget(workers, monkeypatch):
    from tests.gateway.limits.test_limits_team import team

    async def no_spend(counter_id, start):
        return Decimal(0)

    monkeypatch.setattr(spend, "load_counter_spend", no_spend)
    crew = team(budget_usd=COST * 2)
    k = key(team=crew)
    found = subjects.subjects_of(k)
    handle = await workers[0].admit_joint(found, 0, START, UNITS)
    running = limits.Reservation(key=k, route="rt", estimated_tokens=0, backend=workers[0],
                                 handle=handle)  # fmt: skip
    assert await running.charge(COST) is None
    refusal = await running.charge(COST)
    assert refusal is not None and f"team {crew.name}'s budget" in refusal.message
    await running.settle(0, COST * 2)
    with pytest.raises(RateLimited) as raised:
        await workers[-1].admit_joint(found, 0, START, UNITS)
    assert "($0.0020 spent)" in raised.value.message


# --- no max_tokens: the worst case the route can spend, or a refusal ---------------------


class Arrivals(list):
    """The requests at the upstream; ``note`` is told of each as it comes."""

    def note(self) -> None:
        pass


@pytest.fixture
def windowed(clean, monkeypatch, snapshot_reset):
    """A route priced $1/M in, $10/M out, whose model's only known ceiling is its 8192
    token context window (no max output, here or in the catalog); every answer is 7000
    tokens long ($0.07). The upstream answers once ``gate`` is set."""
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    model = deployment(
        "long", "up-long", input_price=Decimal(1), output_price=Decimal(10), context_window=8192
    )
    unbounded = deployment(
        "open-ended", "up-open", input_price=Decimal(1), output_price=Decimal(10)
    )
    registry.install(
        snapshot(
            dataclasses.replace(route("long", "up-long", max_attempts=1), deployments=(model,)),
            dataclasses.replace(
                route("open-ended", "up-open", max_attempts=1), deployments=(unbounded,)
            ),
        )
    )
    gate, arrived = asyncio.Event(), Arrivals()

    async def upstream(request: httpx.Request) -> httpx.Response:
        arrived.append(request)
        arrived.note()
        await gate.wait()
        body = orjson.loads(request.content)
        return httpx.Response(
            200,
            json={
                "id": "c",
                "object": "chat.completion",
                "created": 1,
                "model": body["model"],
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "long answer"},
                        "finish_reason": "length",
                    }
                ],  # fmt: skip
                "usage": {"prompt_tokens": 10, "completion_tokens": 7000, "total_tokens": 7010},
            },
        )

    http.use_transport(httpx.MockTransport(upstream))
    yield gate, arrived, recorded
    http.use_transport(None)


async def ask_without_max_tokens(k, model: str = "long", dialect: str = "openai"):
    body: dict = {"model": model, "messages": [{"role": "user", "content": "write a lot"}]}
    reply = await service.handle("chat", dialect, orjson.dumps(body), {}, service.Caller(key=k))
    return reply.status, orjson.loads(reply.body)


async def test_a_burst_without_max_tokens_spends_within_the_budget(windowed):
    """Twenty requests at once on a $0.50 budget, none with max_tokens: each holds its
    worst case (8192 tokens out, $0.08), so six run and the rest are refused; what they
    spend stays within the budget. A flat cent's hold let all twenty run ($1.40)."""
    gate, arrived, recorded = windowed
    k = key(budget_usd=Decimal("0.50"), budget_period="total")
    settled, counted = asyncio.Event(), []

    def note(*_: object) -> None:  # a request at the upstream (admitted) or refused
        counted.append(1)
        if len(counted) >= 20:
            settled.set()

    arrived.note = note
    tasks = [asyncio.create_task(ask_without_max_tokens(k)) for _ in range(20)]
    for task in tasks:
        task.add_done_callback(note)  # refused ones end at once; admitted ones wait
    await settled.wait()
    gate.set()
    statuses = [status for status, _ in await asyncio.gather(*tasks)]
    await background.done()
    assert statuses.count(200) == 6 and statuses.count(429) == 14, statuses
    spent = sum(r.cost_usd for r in recorded if r.status == 200)
    one_request = Decimal("0.07001")
    assert spent == 6 * one_request
    assert spent <= Decimal("0.50") + one_request  # limits.py: one request may overrun
    assert limits.memory.store.holds.held(k.id, "total", START) == 0


@pytest.mark.parametrize("whose", ["key", "team", "user"])
async def test_a_burst_spends_within_a_budget_whoever_holds_it(windowed, monkeypatch, whose):
    """Twenty requests at once on a $0.50 budget held by the key, its team or its owner
    (bench/budget_torture.py's smallest cell): six run. A key whose only budget was its
    owner's held nothing (``budget_estimate.budgeted`` asked the key and its team), so
    every request of a burst ran: the benchmark's user cells spent $0.80-$1.30 of $0.50."""
    from tests.gateway.limits.test_limits_team import team
    from tests.gateway.limits.test_limits_user import user

    async def no_spend(counter_id, start):
        return Decimal(0)

    monkeypatch.setattr(spend, "load_counter_spend", no_spend)
    budget = {"budget_usd": Decimal("0.50"), "budget_period": "total"}
    k = {
        "key": lambda: key(**budget),
        "team": lambda: key(team=team(**budget)),
        "user": lambda: key(owner=(owner := user(**budget)), user_id=owner.id),
    }[whose]()
    gate, arrived, recorded = windowed
    settled, counted = asyncio.Event(), []

    def note(*_: object) -> None:
        counted.append(1)
        if len(counted) >= 20:
            settled.set()

    arrived.note = note
    tasks = [asyncio.create_task(ask_without_max_tokens(k)) for _ in range(20)]
    for task in tasks:
        task.add_done_callback(note)
    await settled.wait()
    gate.set()
    statuses = [status for status, _ in await asyncio.gather(*tasks)]
    await background.done()
    assert statuses.count(200) == 6 and statuses.count(429) == 14, statuses
    assert sum(r.cost_usd for r in recorded if r.status == 200) <= Decimal("0.50")


async def test_no_known_ceiling_without_max_tokens_is_refused_for_a_budget(windowed):
    gate, arrived, recorded = windowed
    gate.set()
    budgeted = key(budget_usd=Decimal("0.50"), budget_period="total")
    status, body = await ask_without_max_tokens(budgeted, "open-ended")
    assert status == 400 and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["code"] == "max_tokens_required" and body["error"]["param"] == "max_tokens"
    assert arrived == [] and recorded[-1].status == 400
    # the same request with max_tokens runs; a key without a budget is not asked for it
    body = {
        "model": "open-ended",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": "x"}],
    }
    reply = await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=budgeted)
    )
    assert reply.status == 200
    assert (await ask_without_max_tokens(key(), "open-ended"))[0] == 200
    await background.done()
