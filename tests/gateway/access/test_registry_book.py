"""The counter service's book of registry changes (``gateway.access.registry_book``):
watches held until a change, and a writer's wait until every watching worker built it.
A live server using it: ``test_registry_settle.py``."""

from __future__ import annotations

import time

from gateway.access.registry_book import RegistryBook


def test_a_watch_waits_for_a_change_and_says_its_number() -> None:
    book, now = RegistryBook(), time.time()
    assert book.watch("a", -1, now, 5) == ["ok", 0]  # a new watcher learns where it stands
    assert book.watch("a", 0, now, 5) is None  # held: nothing new
    assert book.changed() == ["ok", 1]
    assert book.watch("a", 0, now, 5) == ["ok", 1]
    assert book.watch("a", 1, now - 10, 5) == ["ok", 1]  # its wait is over: answered


def test_settled_once_every_watching_worker_built_the_change() -> None:
    book, now = RegistryBook(), time.time()
    for worker in ("a", "b"):
        book.watch(worker, 0, now, 5)
    (_, change) = book.changed()
    assert book.settled(change, now, 5) is None
    book.built_since("a", change)
    assert book.settled(change, now, 5) is None  # b has not
    assert book.settled(change, now - 10, 5) == ["ok", False]  # nor in time
    book.built_since("b", change)
    assert book.settled(change, now, 5) == ["ok", True]
    book.changed()
    book.gone("a")
    book.gone("b")  # workers gone: nobody left to wait for
    assert book.settled(2, now, 5) == ["ok", True]
