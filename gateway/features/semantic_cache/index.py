"""Each process's nearest-neighbour index of the semantic cache, one per (route, scope).

An index holds the unexpired entries of its (route, scope): their embeddings scaled to
unit length (so a dot product is the cosine similarity), the answers and what they
cost. It is filled from the store in the background (``gateway.features.semantic_cache
.store``): when first asked, then again once ``SWITCHYARD_SEMANTIC_CACHE_REFRESH``
seconds (5) have passed, each time reading only rows newer than the last it holds; the
rows this process writes are added at once. The request path never waits for a query:
a process's first request of a (route, scope) misses while its index loads.

Bounded: at most ``SWITCHYARD_SEMANTIC_CACHE_MAX_ENTRIES`` (2000) entries an index (the
oldest go first) and ``SWITCHYARD_SEMANTIC_CACHE_MAX_INDEXES`` (1000) indexes a process
(the least recently asked go; a key-scoped route has one per key). The search is one
matrix product with numpy (a dependency) over a matrix each new entry is appended to in
place (``Block``), else a plain-Python scan over ``array('f')`` vectors.

Not SQLite's sqlite-vec, nor Redis' vector search (issue #65 asked; measured by
``bench/semantic_lookup.py``, docs/benchmarks.md "Semantic cache lookup"): sqlite-vec's
``vec0`` search is an exact scan as well, in C over the table's pages, and at 10,000
entries of 1536 dimensions it took 18-19 ms a lookup where this matrix product takes
1.5 ms, with a query of the database on the request path this index avoids; the
standard library's ``sqlite3`` of some Python builds cannot load an extension at all.
Redis' search needs the RediSearch module (Redis Stack, or Redis 8), which a plain
Redis 7 has not; the entries are in the database every instance shares, and Redis only
announces new ones (``announce``)."""

from __future__ import annotations

import importlib
import math
import time
from array import array
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from gateway.base.env import env_float, env_int

_UNLOADED: Any = object()
# numpy, imported at the first search: it costs a process about 0.1 s of CPU to import,
# and a gateway whose routes have no semantic cache never needs it (None: not installed)
numpy: Any = _UNLOADED


def _numpy() -> Any:
    global numpy
    if numpy is _UNLOADED:
        try:  # pragma: no branch - the fallback is tested by forcing it
            numpy = importlib.import_module("numpy")
        except ImportError:  # pragma: no cover - numpy comes with the dependencies
            numpy = None
    return numpy


def max_entries() -> int:
    return env_int("SWITCHYARD_SEMANTIC_CACHE_MAX_ENTRIES", 2000, minimum=1)


def max_indexes() -> int:
    return env_int("SWITCHYARD_SEMANTIC_CACHE_MAX_INDEXES", 1000, minimum=1)


def refresh_seconds() -> float:
    return env_float("SWITCHYARD_SEMANTIC_CACHE_REFRESH", 5.0, minimum=0.0)


def unit(vector: Sequence[float]) -> array[float] | None:
    """``vector`` scaled to length 1 (float32), or None when it has no length."""
    norm = math.sqrt(math.fsum(v * v for v in vector))
    if not norm or not math.isfinite(norm):
        return None
    return array("f", (v / norm for v in vector))


@dataclass(slots=True)
class Entry:
    id: int
    vector: array[float]  # unit length, float32
    expires_at: float  # epoch seconds
    answer: bytes  # gateway.core.cache.codec.encode
    cost_usd: Decimal


@dataclass(slots=True)
class Block:
    """numpy's copy of an index's vectors of one dimension count, one row an entry in
    the order they came, appended in place: a new entry costs one row, never a new
    matrix of them all (at 10,000 entries of 1536 dimensions, stacking them again took
    25-30 ms: ``bench/semantic_lookup.py``). A row let go (its entry expired or pushed
    out by the bound) is marked dead and skipped; the live rows are copied into a
    fresh matrix only when the matrix is full, so that copy is paid once every
    ``capacity - live`` additions."""

    matrix: Any  # (capacity, dims) float32; rows [0, used) hold entries
    expires: Any  # (capacity,) float64: each row's entry's expiry, -inf once dead
    rows: list[Entry | None]  # the entry of each used row (None: dead)
    where: dict[int, int]  # entry id -> its row

    @classmethod
    def of(cls, entries: list[Entry], dims: int) -> Block:
        np = _numpy()
        block = cls(np.empty((0, dims), np.float32), np.empty(0), [], {})
        block.compact(extra=len(entries))
        for entry in entries:
            block.append(entry)
        return block

    def append(self, entry: Entry) -> None:
        used = len(self.rows)
        if used == len(self.expires):
            self.compact(extra=1)
            used = len(self.rows)
        np = _numpy()
        self.matrix[used] = np.frombuffer(entry.vector, dtype=np.float32)
        self.expires[used] = entry.expires_at
        self.rows.append(entry)
        self.where[entry.id] = used

    def drop(self, entry_id: int) -> None:
        row = self.where.pop(entry_id, None)
        if row is not None:
            self.rows[row] = None
            self.expires[row] = -math.inf

    def compact(self, extra: int) -> None:
        """The live rows into a new matrix with room for ``extra`` more and half as
        many again (at least 64)."""
        np = _numpy()
        live = [i for i, entry in enumerate(self.rows) if entry is not None]
        needed = len(live) + extra
        capacity = needed + max(64, needed // 2)
        matrix = np.empty((capacity, self.matrix.shape[1]), np.float32)
        expires = np.full(capacity, -math.inf)
        matrix[: len(live)] = self.matrix[live]
        expires[: len(live)] = self.expires[live]
        self.rows = [self.rows[i] for i in live]
        self.where = {entry.id: n for n, entry in enumerate(self.rows) if entry is not None}
        self.matrix, self.expires = matrix, expires

    def nearest(
        self, vector: array[float], now: float
    ) -> tuple[tuple[float, Entry] | None, list[Entry]]:
        """(the best score and its entry, None when no row is live and unexpired; the
        entries found expired, their rows marked dead)."""
        np = _numpy()
        used = len(self.rows)
        expires = self.expires[:used]
        stale = expires <= now
        expired: list[Entry] = []
        if stale.any():
            for row in np.flatnonzero(stale & (expires != -math.inf)).tolist():
                gone = self.rows[row]
                if gone is not None:
                    expired.append(gone)
                    self.drop(gone.id)
        if stale.all():  # (nothing used, or every row dead or expired)
            return None, expired
        scores = self.matrix[:used] @ np.frombuffer(vector, dtype=np.float32)
        scores[stale] = -np.inf
        best = int(scores.argmax())
        entry = self.rows[best]
        assert entry is not None  # a dead row's expiry is -inf: stale, never the best
        return (float(scores[best]), entry), expired


@dataclass(slots=True)
class Index:
    entries: list[Entry] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)
    loaded_at: float = 0.0  # monotonic time of the last load (0: never)
    loading: bool = False
    last_id: int = 0  # the newest row read from the store
    # numpy's rows of the entries by dimension count, built at the first lookup of
    # that count and kept up to date by ``add``
    _blocks: dict[int, Block] = field(default_factory=dict)

    def add(self, entry: Entry) -> None:
        if entry.id in self.ids:
            return
        overflow = len(self.entries) + 1 - max_entries()
        if overflow > 0:
            for gone in self.entries[:overflow]:
                self.ids.discard(gone.id)
                block = self._blocks.get(len(gone.vector))
                if block is not None:
                    block.drop(gone.id)
            del self.entries[:overflow]
        self.entries.append(entry)
        self.ids.add(entry.id)
        self.last_id = max(self.last_id, entry.id)
        block = self._blocks.get(len(entry.vector))
        if block is not None:
            block.append(entry)

    def due(self, now: float) -> bool:
        """Whether a (re)load should start (none running, none yet or too old)."""
        return not self.loading and (
            not self.loaded_at or now - self.loaded_at >= refresh_seconds()
        )

    def nearest(self, vector: array[float], now: float) -> tuple[float, Entry] | None:
        """The most similar unexpired entry and its similarity (None: none comparable).
        Only entries of the query's dimension count are compared (an embedding route
        that changed models)."""
        if _numpy() is None:
            return self._scan(vector, now)
        dims = len(vector)
        block = self._blocks.get(dims)
        if block is None:
            self._sweep(now)
            same = [e for e in self.entries if len(e.vector) == dims]
            if not same:
                return None
            block = self._blocks[dims] = Block.of(same, dims)
        best, expired = block.nearest(vector, now)
        if expired:
            gone = {e.id for e in expired}
            self.entries = [e for e in self.entries if e.id not in gone]
            self.ids -= gone
        return best

    def _sweep(self, now: float) -> None:
        """Let the expired entries go."""
        if any(e.expires_at <= now for e in self.entries):
            self.entries = [e for e in self.entries if e.expires_at > now]
            self.ids = {e.id for e in self.entries}

    def _scan(self, vector: array[float], now: float) -> tuple[float, Entry] | None:
        self._sweep(now)
        return scan([e for e in self.entries if len(e.vector) == len(vector)], vector)


def scan(entries: list[Entry], vector: array[float]) -> tuple[float, Entry] | None:
    """The plain-Python search (no numpy): a dot product with each entry."""
    best: tuple[float, Entry] | None = None
    for entry in entries:
        score = math.fsum(a * b for a, b in zip(entry.vector, vector, strict=True))
        if best is None or score > best[0]:
            best = (score, entry)
    return best


_indexes: OrderedDict[tuple[str, str], Index] = OrderedDict()


def get(route: str, scope: str) -> Index:
    """The index of (route, scope), made empty when absent (the least recently asked
    one let go past the bound)."""
    where = (route, scope)
    found = _indexes.get(where)
    if found is None:
        found = _indexes[where] = Index()
        while len(_indexes) > max_indexes():
            _indexes.popitem(last=False)
    else:
        _indexes.move_to_end(where)
    return found


def peek(route: str, scope: str) -> Index | None:
    return _indexes.get((route, scope))


def reset() -> None:
    """Forget every index (tests; a process starting over)."""
    _indexes.clear()


def now() -> float:
    return time.time()
