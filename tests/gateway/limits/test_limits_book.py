"""The key limits' book (``gateway.limits.limits_book``): a sliding minute of requests and
tokens per key, budgets loaded once and held by requests in flight, joint admissions
that reserve nothing unless every subject fits, settling (costs, give-backs, token
corrections) and deployments' caps per minute, answered over the wire format. (Leases:
``test_limit_leases.py``; the stores end to end: ``test_limits*.py``.)"""

from __future__ import annotations

import pytest

from gateway.base import hooks
from gateway.base.counters import CounterBooks
from gateway.limits.limits_book import OPS, WINDOW, CounterStore, Window

T = 1_000_000.0  # an epoch second


def test_a_window_counts_per_second_and_forgets_after_a_minute() -> None:
    window = Window()
    assert window.add(100, 10) == 100
    assert window.add(99, 5) == 100  # a late clock joins the newest bucket
    assert window.add(130, 1) == 130
    assert (window.requests, window.tokens) == (3, 16)
    window.prune(100 + WINDOW)
    assert (window.requests, window.tokens) == (1, 1)
    window.correct(130, 4)
    window.correct(999, 50)  # a bucket already gone: nothing to correct
    assert window.tokens == 5


def test_a_window_counts_a_late_report_in_its_own_second() -> None:
    window = Window()
    window.add(110, 0)
    window.count(105, 2)
    window.count(110, 3, tokens=True)
    assert [b for b in window.buckets] == [[105, 2, 0], [110, 1, 3]]
    assert (window.requests, window.tokens) == (3, 3)


def test_waiting_lasts_until_old_buckets_free_enough_room() -> None:
    window = Window()
    window.add(100, 0)
    window.add(110, 0)
    assert window.wait(115.0, 1, 2, 1, 2) == 100 + WINDOW - 115  # the first frees one
    assert window.wait(115.0, 1, 2, 1, 1) == 110 + WINDOW - 115
    assert window.wait(115.0, 1, 2, 5, 1) == WINDOW


def test_requests_and_tokens_per_minute_are_refused_with_a_wait() -> None:
    store = CounterStore()
    assert store.admit(3, 2, 0, 10, -1, "", T) == ["ok", int(T)]
    assert store.admit(3, 2, 0, 10, -1, "", T + 1)[0] == "ok"
    refused = store.admit(3, 2, 0, 10, -1, "", T + 5)
    assert refused == ["rpm", WINDOW - 5.0]
    assert store.admit(3, 2, 0, 10, -1, "", T + WINDOW)[0] == "ok"  # the first left
    tokens = CounterStore()
    assert tokens.admit(4, 0, 100, 90, -1, "", T)[0] == "ok"
    assert tokens.admit(4, 0, 100, 20, -1, "", T)[0] == "tpm"
    assert CounterStore().admit(5, 0, 100, 500, -1, "", T)[0] == "ok"  # an empty window admits
    assert CounterStore().admit(6, 0, 0, 10, -1, "", T) == ["ok", None]  # no limits: no window


def test_a_budget_is_loaded_once_and_refuses_once_spent() -> None:
    store = CounterStore()
    assert store.admit(3, 0, 0, 0, 100, "m1", T) == ["load"]
    assert store.admit(3, 0, 0, 0, 100, "m1", T, initial=40) == ["ok", None]
    assert store.settle(3, None, 0, "m1", 60) == ["ok"]
    assert store.admit(3, 0, 0, 0, 100, "m1", T) == ["budget", 100]
    assert store.admit(3, 0, 0, 0, 100, "m2", T, initial=0) == ["ok", None]  # a new period
    assert (3, "m1") not in store.spend  # the one before dropped


def test_a_hold_keeps_room_for_a_request_in_flight_until_settled() -> None:
    store = CounterStore()
    ok = store.admit(3, 0, 0, 0, 100, "m", T, initial=0, hold=70, hold_ttl=30)
    assert ok[0] == "ok" and ok[2] is not None
    assert store.admit(3, 0, 0, 0, 100, "m", T, hold=40, hold_ttl=30) == ["held", 0, 70]
    store.settle(3, None, 0, "m", 20, hold_period="m", hold=ok[2])
    assert store.admit(3, 0, 0, 0, 100, "m", T, hold=40, hold_ttl=30)[0] == "ok"
    assert store.admit(3, 0, 0, 0, 100, "m", T + 31, hold=70, hold_ttl=30)[0] == "ok"  # expired


def test_settling_adds_the_cost_gives_back_and_corrects_the_tokens() -> None:
    store = CounterStore()
    assert store.settle(3, None, 0, "m", 5) == ["load"]
    assert store.settle(3, None, 0, "m", -5) == ["ok"] and (3, "m") not in store.spend
    store.settle(3, None, 0, "m", 5, initial=10)
    store.settle(3, None, 0, "m", -50)
    assert store.spend[(3, "m")] == 0  # never below nothing
    second = store.admit(3, 0, 100, 30, -1, "", T)[1]
    store.settle(3, second, -20, "m", 0)
    assert store.windows[3].tokens == 10


def test_a_joint_admission_reserves_nothing_unless_every_subject_fits() -> None:
    store = CounterStore()
    store.admit(-4, 0, 0, 0, 50, "m", T, initial=50)  # the team's budget is spent
    key, team = [3, 5, 0, -1, "m", None], [-4, 0, 0, 50, "m", None]
    assert store.admit_all(10, T, 0, 0, [key, team]) == ["budget", 1, 50]
    assert 3 not in store.windows or store.windows[3].requests == 0
    team[3] = 100
    answer = store.admit_all(10, T, 5, 30, [key, team])
    assert answer[0] == "ok" and answer[1][0] == [int(T), None] and answer[1][1][1] is not None
    assert store.admit_all(1, T, 0, 0, [[7, 0, 0, 10, "m", None]]) == ["load", 0]


def test_settling_jointly_is_all_or_none() -> None:
    store = CounterStore()
    store.admit(3, 0, 0, 0, 100, "m", T, initial=0)
    both = [[3, None, 0, "m", 5, None, None, None], [-4, None, 0, "m", 5, None, None, None]]
    assert store.settle_all(both) == ["load", 1]
    assert store.spend[(3, "m")] == 0  # nothing settled
    both[1][5] = 7
    assert store.settle_all(both) == ["ok"]
    assert (store.spend[(3, "m")], store.spend[(-4, "m")]) == (5, 12)


def test_a_deployments_minute_is_capped_and_a_new_minute_starts_afresh() -> None:
    store = CounterStore()
    assert store.claim(9, 2, 0, 100) == ["ok"]
    assert store.claim(9, 2, 0, 100) == ["ok"]
    assert store.claim(9, 2, 0, 100) == ["full"]
    assert store.claim(9, 2, 0, 101) == ["ok"]
    assert store.used(9, 101, 50) == ["ok"] and store.claim(9, 0, 50, 101) == ["full"]
    store.used(9, 100, 999)  # a minute that is over counts for nothing
    assert store.minutes[9] == [101, 1, 50]  # a refused claim counted nothing
    assert store.claim(9, 5, 0, 100) == ["ok"]  # a late clock counts in the newer minute
    assert store.minutes[9][1] == 2


def test_forgetting_a_key_drops_its_counters_and_the_wire_answers_each_op() -> None:
    store = CounterStore()
    store.admit(3, 1, 0, 0, 100, "m", T, initial=10)
    store.forget(3)
    assert 3 not in store.windows and (3, "m") not in store.spend
    assert store.answer(["ping"]) == ["pong"]
    assert store.answer(["claim", 1, 1, 0, 100]) == ["ok"]
    with pytest.raises(ValueError, match="unknown operation"):
        store.answer(["drop_table"])


def test_the_service_serves_the_book_and_its_operations() -> None:
    books = CounterBooks()
    assert isinstance(books.limits, CounterStore)
    assert all(op in hooks.counter_ops for op in OPS)
    assert hooks.counter_ops["claim"](books, 1, 1, 0, 100) == ["ok"]
    assert hooks.counter_ops["claim"](books, 1, 1, 0, 100) == ["full"]
