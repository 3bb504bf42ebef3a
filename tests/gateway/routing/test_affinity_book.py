"""The shared prefix-affinity book (``gateway.routing.affinity_book``): a prefix is kept
while it is warm, the oldest dropped first."""

from __future__ import annotations

from gateway.routing.affinity_book import AffinityBook


def test_the_book_keeps_a_prefix_while_it_is_warm_and_drops_the_oldest() -> None:
    book = AffinityBook(max_entries=2)
    assert book.put("r", 1, 7, 300.0, 1000.0) == ["ok"]
    assert book.get("r", 1, 1100.0) == ["ok", 7, 200.0]
    assert book.get("r", 1, 1300.0) == ["ok", None, 0]  # cold: forgotten
    book.put("r", 1, 7, 300.0, 2000.0)
    book.put("r", 2, 8, 300.0, 2000.0)
    book.put("other", 1, 9, 300.0, 2000.0)  # a third: the least recently told goes
    assert book.get("r", 1, 2001.0)[1] is None and book.get("r", 2, 2001.0)[1] == 8
