"""The per-process index: the nearest unexpired entry by cosine similarity, the same
with numpy and without, bounded in entries and in indexes, and never confused by
vectors of other dimensions (an embedding route that changed models)."""

from __future__ import annotations

from array import array
from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest

from gateway.features.semantic_cache import index


def entry(id_: int, vector: Sequence[float], expires_at: float = 1e12) -> index.Entry:
    unit = index.unit(vector)
    assert unit is not None
    return index.Entry(id_, unit, expires_at, b"answer-%d" % id_, Decimal(0))


def query(vector: Sequence[float]) -> array[float]:
    unit = index.unit(vector)
    assert unit is not None
    return unit


@pytest.fixture(autouse=True)
def _fresh() -> Iterator[None]:
    index.reset()
    yield
    index.reset()


def nearest_id(found: index.Index, vector: Sequence[float], now: float) -> int | None:
    best = found.nearest(query(vector), now)
    return None if best is None else best[1].id


def test_the_nearest_unexpired_entry_and_its_cosine_similarity() -> None:
    found = index.Index()
    found.add(entry(1, [1, 0, 0]))
    found.add(entry(2, [1, 1, 0]))
    found.add(entry(3, [0, 0, 1], expires_at=50.0))
    hit = found.nearest(query([0.9, 1, 0]), now=100.0)
    assert hit is not None
    similarity, best = hit
    assert best.id == 2 and similarity == pytest.approx(1.9 / (2**0.5 * 1.81**0.5), abs=1e-6)
    assert nearest_id(found, [0, 0, 1], 100.0) in (1, 2)  # 3 expired
    assert found.ids == {1, 2}  # and let go


def test_the_plain_python_scan_agrees_with_numpy(monkeypatch: pytest.MonkeyPatch) -> None:
    found = index.Index()
    for i, vector in enumerate(([1, 2, 3], [3, 2, 1], [0, 1, 0], [1, 1, 1])):
        found.add(entry(i + 1, vector))
    asked = query([1, 2, 2.5])
    with_numpy = found.nearest(asked, now=0.0)
    monkeypatch.setattr(index, "numpy", None)
    without = found.nearest(asked, now=0.0)
    assert with_numpy is not None and without is not None
    assert with_numpy[1].id == without[1].id == 1
    assert with_numpy[0] == pytest.approx(without[0], abs=1e-6)


def test_vectors_of_other_dimensions_are_not_compared() -> None:
    found = index.Index()
    found.add(entry(1, [1, 0, 0]))
    found.add(entry(2, [1, 0]))
    assert nearest_id(found, [1, 0, 0], 0.0) == 1
    assert nearest_id(found, [0, 1], 0.0) == 2  # not a stale matrix
    assert found.nearest(query([1, 0, 0, 0]), now=0.0) is None


def test_an_index_keeps_the_newest_entries_up_to_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_SEMANTIC_CACHE_MAX_ENTRIES", "3")
    found = index.Index()
    for i in range(1, 6):
        found.add(entry(i, [1, i]))
    found.add(entry(5, [1, 5]))  # a row heard twice (written here, read back): once
    assert [e.id for e in found.entries] == [3, 4, 5] and found.ids == {3, 4, 5}
    assert found.last_id == 5


def test_a_process_keeps_its_most_recently_asked_indexes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_SEMANTIC_CACHE_MAX_INDEXES", "2")
    first = index.get("r", "key:1")
    index.get("r", "key:2")
    assert index.get("r", "key:1") is first  # asked again: the most recent
    index.get("r", "key:3")
    assert index.peek("r", "key:2") is None and index.peek("r", "key:1") is first


def test_a_vector_without_length_is_refused() -> None:
    assert index.unit([0.0, 0.0]) is None and index.unit([float("nan"), 1.0]) is None


def test_entries_added_after_the_first_lookup_are_searched_without_restacking() -> None:
    found = index.Index()
    found.add(entry(1, [1, 0, 0]))
    assert nearest_id(found, [0, 1, 0], 0.0) == 1
    block = found._blocks[3]
    matrix = block.matrix
    found.add(entry(2, [0, 1, 0]))  # appended in place: the same matrix
    assert nearest_id(found, [0, 1, 0], 0.0) == 2
    assert found._blocks[3] is block and block.matrix is matrix


def test_the_appended_matrix_agrees_with_the_scan_through_adds_expiries_and_the_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A random run of additions (past the matrix's capacity and the index's bound, so
    rows are let go and the matrix compacted), expiries and lookups: the numpy search
    and the plain-Python scan of the same entries find the same entry, the same
    similarity, and leave the same entries."""
    import random

    monkeypatch.setenv("SWITCHYARD_SEMANTIC_CACHE_MAX_ENTRIES", "150")
    rng = random.Random(65)
    found = index.Index()
    plain = index.Index()
    now = 0.0
    for step in range(1, 600):
        vector = [rng.gauss(0, 1) for _ in range(8)]
        expires = now + rng.choice([5.0, 50.0, 500.0])
        found.add(entry(step, vector, expires_at=expires))
        plain.add(entry(step, vector, expires_at=expires))
        now += rng.choice([0.0, 0.5, 2.0])
        if step % 7 == 0:
            asked = query([rng.gauss(0, 1) for _ in range(8)])
            got = found.nearest(asked, now)
            monkeypatch.setattr(index, "numpy", None)
            want = plain.nearest(asked, now)
            monkeypatch.setattr(index, "numpy", index._UNLOADED)
            assert (got is None) == (want is None)
            if got is not None and want is not None:
                assert got[1].id == want[1].id
                assert got[0] == pytest.approx(want[0], abs=1e-5)
            assert [e.id for e in found.entries] == [e.id for e in plain.entries]
            assert found.ids == plain.ids
    block = found._blocks[8]
    assert len(block.where) <= 150 and len(block.rows) <= len(block.expires)


def test_a_lookup_when_every_entry_has_expired_finds_nothing_and_lets_them_go() -> None:
    found = index.Index()
    found.add(entry(1, [1, 0], expires_at=10.0))
    assert nearest_id(found, [1, 0], 5.0) == 1
    found.add(entry(2, [0, 1], expires_at=10.0))
    assert found.nearest(query([1, 0]), now=20.0) is None
    assert found.entries == [] and found.ids == set()
    found.add(entry(3, [0, 1], expires_at=30.0))
    assert nearest_id(found, [1, 0], 20.0) == 3
