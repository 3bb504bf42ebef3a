"""The shared cooldowns' book (``gateway.routing.cooldown_book``), kept by the counter
service or Redis: it cools a deployment after the threshold and says who started it,
forgets failures outside the window, and lets one probe through at a time."""

from __future__ import annotations

from gateway.routing.cooldown_book import CooldownBook

# --- the book (what the counter service keeps) -------------------------------------------------


def test_the_book_cools_after_the_threshold_and_says_who_started_it() -> None:
    book = CooldownBook()
    assert book.failed(7, 100.0, 3, 60, 30, False, False) == ["ok", None, 1, False]
    assert book.failed(7, 101.0, 3, 60, 30, False, False) == ["ok", None, 2, False]
    assert book.failed(7, 102.0, 3, 60, 30, False, False) == ["ok", 30.0, 0, True]
    assert book.view(110.0, 60) == ["ok", [[7, 22.0, 0]]]


def test_the_book_forgets_failures_outside_the_window_and_never_cools_a_lone_one() -> None:
    book = CooldownBook()
    book.failed(7, 100.0, 3, 60, 30, False, False)
    book.failed(7, 101.0, 3, 60, 30, False, False)
    assert book.failed(7, 170.0, 3, 60, 30, False, False)[1:3] == [None, 1]
    for at in (171.0, 172.0, 173.0):
        assert book.failed(8, at, 3, 60, 30, False, True)[1] is None  # alone
    assert book.view(300.0, 60) == ["ok", []]  # nothing recent: forgotten


def test_the_book_lets_one_probe_at_a_time_and_a_success_closes_it() -> None:
    book = CooldownBook()
    for at in (100.0, 101.0, 102.0):
        book.failed(7, at, 3, 60, 30, False, False)
    assert book.probe(7, 110.0, 30) == ["no", 22.0]  # still cooling
    assert book.probe(7, 133.0, 30) == ["yes"]
    assert book.probe(7, 134.0, 30) == ["no", 29.0]  # another process probes it
    book.release(7)
    assert book.probe(7, 135.0, 30) == ["yes"]
    assert book.failed(7, 136.0, 3, 60, 30, True, False)[1:4] == [30.0, 0, True]
    book.succeeded(7)
    assert book.view(137.0, 60) == ["ok", []]
    assert book.probe(7, 137.0, 30) == ["yes"]
