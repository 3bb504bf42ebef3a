"""The counter service's side of budget leases (gateway/limits/limit_leases.py, the
``lease`` operation of gateway/limits/limits_book.py): what a worker is leased, how its
reports are applied, and what a request that does not fit waits for."""

from __future__ import annotations

import time

from gateway.limits import limit_leases
from gateway.limits.limits_book import CounterStore
from tests.gateway.limits.test_limits import START

UNIT = 100_000  # one request's hold in these tests (1e-8 USD)
TTL = 30.0


def lease(
    store: CounterStore,
    holder: str,
    seq: int,
    need: int = UNIT,
    *,
    spent: int = 0,
    returned: int = 0,
    answered: int = 0,
    budget: int = 100 * UNIT,
    at: float = START,
    want: int = 16 * UNIT,
) -> list[object] | None:
    """One ``lease`` request of key 7's total budget (loaded at 0), answered as for that
    one line: ``["ok", granted, contended]`` or a refusal without the line's index."""
    line = [7, "total", budget, 0, spent, returned, answered, need, want, 0, []]
    reply = store.lease(at, holder, seq, TTL, [line])
    if reply is None:
        return None
    if reply[0] == "ok":
        return ["ok", *reply[1][0]]
    return [reply[0], *reply[2:]]


def test_a_grant_is_the_worker_s_want_capped_at_a_quarter_of_what_is_left():
    store = CounterStore()
    assert lease(store, "a", 1) == ["ok", 16 * UNIT, 0]  # 100 left: 16 wanted
    assert lease(store, "b", 1, want=64 * UNIT) == ["ok", 21 * UNIT, 0]  # 84 left: a quarter
    assert store.leases.held(7, "total", START) == 37 * UNIT
    # an admission of a key with a lease counts what the workers lease as held
    assert store.admit(7, 0, 0, 0, 100 * UNIT, "total", START, 0, 64 * UNIT, TTL)[0] == "held"


def test_a_report_moves_spend_off_the_lease_once_per_sequence_number():
    store = CounterStore()
    lease(store, "a", 1)  # 16 leased
    # it spent 3, gives back 10: its lease is 3 requests in flight
    assert lease(store, "a", 2, 0, spent=3 * UNIT, returned=10 * UNIT) == ["ok", 0, 0]
    assert store.spend[(7, "total")] == 3 * UNIT
    assert store.leases.held(7, "total", START) == 3 * UNIT
    # the same report asked again (a waiting request) changes nothing
    lease(store, "a", 2, 0, spent=3 * UNIT, returned=10 * UNIT)
    assert store.spend[(7, "total")] == 3 * UNIT
    assert store.leases.held(7, "total", START) == 3 * UNIT


def test_a_line_given_back_in_full_leaves_nothing_behind():
    store = CounterStore()
    lease(store, "a", 1)
    lease(store, "a", 2, 0, spent=UNIT, returned=15 * UNIT, answered=1)
    assert store.leases._lines == {}


def test_a_lease_lapses_with_the_holds_time_to_live_unless_reported_on():
    store = CounterStore()
    lease(store, "a", 1)
    lease(store, "a", 2, 0, spent=UNIT, at=START + 20)  # a report keeps it
    assert store.leases.held(7, "total", START + TTL + 10) == 15 * UNIT
    assert store.leases.held(7, "total", START + 20 + TTL) == 0  # its worker died


def test_a_request_that_does_not_fit_waits_for_the_other_leases_then_fits():
    store = CounterStore()
    budget = 4 * UNIT
    assert lease(store, "a", 1, budget=budget) == ["ok", UNIT, 0]  # a quarter of 4 is 1
    assert lease(store, "a", 2, 2 * UNIT, budget=budget) == ["ok", 2 * UNIT, 0]
    # b's request of 2 does not fit beside a's 3: it waits, and a is asked back
    assert lease(store, "b", 1, 2 * UNIT, budget=budget) is None
    assert store.leases.asks == [("a", ["lease_back", 7, "total"])]
    assert lease(store, "b", 1, 2 * UNIT, budget=budget) is None  # asked again: still
    # a reports completely (it had heard its grants up to 2): one request ended free
    assert lease(store, "a", 3, 0, returned=UNIT, answered=2, budget=budget) == ["ok", 0, 1]
    assert lease(store, "b", 1, 2 * UNIT, budget=budget) == ["ok", 2 * UNIT, 1]
    # contended: a grant is the request's hold and nothing more
    assert lease(store, "a", 4, UNIT // 2, budget=budget, want=8 * UNIT) is None


def test_a_report_that_missed_a_grant_is_not_complete():
    store = CounterStore()
    budget = 8 * UNIT
    assert lease(store, "a", 1, budget=budget, want=2 * UNIT) == ["ok", 2 * UNIT, 0]  # extra
    assert lease(store, "b", 1, 7 * UNIT, budget=budget) is None
    # a's report sent before it heard grant 1 leaves the request waiting
    lease(store, "a", 2, 0, answered=0, budget=budget)
    assert lease(store, "b", 1, 7 * UNIT, budget=budget) is None
    lease(store, "a", 3, 0, returned=UNIT, answered=1, budget=budget)
    assert lease(store, "b", 1, 7 * UNIT, budget=budget) == ["ok", 7 * UNIT, 1]


def test_a_wait_ends_with_a_refusal_when_nobody_reports(monkeypatch):
    store = CounterStore()
    budget = 2 * UNIT
    lease(store, "a", 1, 2 * UNIT, budget=budget)  # all of it, in flight
    assert lease(store, "b", 1, budget=budget) is None
    clock = time.monotonic() + limit_leases.WAIT_SECONDS
    monkeypatch.setattr(limit_leases.time, "monotonic", lambda: clock)
    assert lease(store, "b", 1, budget=budget) == ["held", 0, 2 * UNIT]


def test_nothing_is_awaited_when_no_other_worker_leases():
    store = CounterStore()
    lease(store, "a", 1, budget=2 * UNIT)
    assert lease(store, "a", 2, 2 * UNIT, answered=1, budget=2 * UNIT) == ["held", 0, UNIT]
    assert store.leases.asks == []


def test_a_spent_budget_is_refused_at_once_and_a_report_counts_on_a_loaded_spend_only():
    store = CounterStore()
    lease(store, "a", 1, budget=2 * UNIT)
    lease(store, "a", 2, 0, spent=2 * UNIT, answered=1, budget=2 * UNIT)
    assert lease(store, "b", 1, budget=2 * UNIT) == ["budget", 2 * UNIT]
    # a spend not loaded (a new period) is read from the request log when it is
    line = [7, "other", UNIT, None, UNIT, 0, 2, 0, 0, 0, []]
    assert store.lease(START, "a", 3, TTL, [line])[0] == "ok"
    assert (7, "other") not in store.spend


def test_an_rpm_line_is_leased_beside_its_window_and_settles_when_the_window_empties():
    store = CounterStore()

    def rpm(holder: str, seq: int, at: float, used: int = 0, second: int = 0) -> object:
        line = [7, "rpm", 4, None, used, 0, seq - 1, 1, 16, second, []]
        return store.lease(at, holder, seq, TTL, [line])

    assert rpm("a", 1, START) == ["ok", [[1, 0]]]  # a quarter of 4
    assert rpm("b", 1, START) == ["ok", [[1, 0]]]
    assert rpm("a", 2, START, used=1, second=int(START)) == ["ok", [[1, 0]]]
    assert store.windows[7].requests == 1  # a's first request, reported into its second
    assert rpm("b", 2, START) == ["ok", [[1, 0]]]  # 1 counted + 3 leased + 1 = 4
    assert rpm("a", 3, START, used=1, second=int(START)) is None  # b's lease is asked back
    assert store.leases.asks == [("b", ["lease_back", 7, "rpm"])]
    # b reports its two requests: four in the window, none leased: both are refused
    assert rpm("b", 3, START, used=2, second=int(START)) == ["rpm", 0, 60.0]
    assert rpm("a", 3, START, used=1, second=int(START)) == ["rpm", 0, 60.0]
    # a minute later the window is empty: half the limit is free, leases are worth it again
    later = START + 61
    assert store.lease(later, "c", 1, TTL, [[7, "rpm", 4, None, 0, 0, 0, 1, 16, 0, []]]) == [
        "ok",
        [[1, 0]],
    ]
    assert store.windows[7].requests == 0
