"""The reasoning ledger's book: an LRU by (key scope, tool-call id) bounded in entries,
bytes and age, and the counter service's shared book answering per turn."""

from __future__ import annotations

import pytest

from gateway.core.ledger_book import Ledger, SharedLedger
from tests.gateway.core.test_reasoning_ledger import BLOB, Clock


def test_entries_are_bounded_least_recently_used_first() -> None:
    book = Ledger(max_entries=3, max_bytes=10**6, ttl=60)
    for n in range(3):
        book.put("k", f"call_{n}", BLOB)
    assert book.get("k", "call_0") == BLOB  # now the most recently used
    book.put("k", "call_3", BLOB)
    assert len(book) == 3
    assert book.get("k", "call_1") is None  # the least recently used went
    assert book.get("k", "call_0") == BLOB and book.get("k", "call_3") == BLOB


def test_bytes_are_bounded_and_counted_back_on_eviction() -> None:
    big = (("x" * 1000, "s" * 1000, None),)
    book = Ledger(max_entries=100, max_bytes=5000, ttl=60)
    for n in range(5):
        book.put("k", f"c{n}", big)
    assert book.bytes <= 5000
    assert len(book) == 2  # ~2.1 kB each
    assert book.get("k", "c4") == big and book.get("k", "c0") is None
    book.put("k", "huge", (("y" * 6000, "s", None),))  # larger than the whole ledger
    assert book.get("k", "huge") is None and book.get("k", "c4") == big
    book.put("k", "c4", BLOB)  # replacing an entry gives its bytes back
    assert book.bytes == sum(size for _, size, _ in book.entries.values())


def test_entries_expire_after_their_ttl() -> None:
    clock = Clock()
    book = Ledger(max_entries=10, max_bytes=10**6, ttl=30, clock=clock)
    book.put("k", "c", BLOB)
    clock.now += 29
    assert book.get("k", "c") == BLOB
    clock.now += 2
    assert book.get("k", "c") is None
    assert len(book) == 0 and book.bytes == 0


def test_zero_entries_turns_it_off() -> None:
    book = Ledger(max_entries=0, max_bytes=10**6, ttl=30)
    book.put("k", "c", BLOB)
    assert book.get("k", "c") is None


def test_the_shared_book_answers_per_turn() -> None:
    shared = SharedLedger()
    blob = [["thought", "sig", None]]
    assert shared.answer("ledger_get", ["7", [["a"]]]) == ["ok", [None]]  # nothing yet
    assert shared.answer("ledger_put", ["7", ["a", "b"], blob, 10, 10_000, 60]) == ["ok"]
    got = shared.answer("ledger_get", ["7", [["x", "b"], ["y"], ["a"]]])
    assert got == ["ok", [blob, None, blob]]
    assert shared.answer("ledger_get", ["8", [["a"]]]) == ["ok", [None]]
    with pytest.raises(ValueError):
        shared.answer("ledger_drop", [])


def test_new_bounds_are_kept_to_at_once() -> None:
    book = Ledger(max_entries=5, max_bytes=10**6, ttl=60)
    for n in range(5):
        book.put("k", f"c{n}", BLOB)
    book.bound(2, 10**6, 60)
    assert len(book) == 2 and book.get("k", "c4") == BLOB and book.get("k", "c2") is None
    shared = SharedLedger()
    shared.answer("ledger_put", ["7", ["a"], BLOB, 5, 10**6, 60])
    shared.answer("ledger_put", ["7", ["b", "c"], BLOB, 1, 10**6, 60])  # the latest bounds
    assert shared.answer("ledger_get", ["7", [["a"], ["b"], ["c"]]]) == ["ok", [None, None, BLOB]]
