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
matrix product with numpy (installed with the gateway's dependencies: presidio's spaCy
needs it), else a plain-Python scan over ``array('f')`` vectors."""

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
class Index:
    entries: list[Entry] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)
    loaded_at: float = 0.0  # monotonic time of the last load (0: never)
    loading: bool = False
    last_id: int = 0  # the newest row read from the store
    _matrix: Any = None  # numpy's stacked vectors of ``_stacked`` (None: to build)
    _stacked: list[Entry] = field(default_factory=list)  # the entries ``_matrix`` holds

    def add(self, entry: Entry) -> None:
        if entry.id in self.ids:
            return
        self.entries.append(entry)
        self.ids.add(entry.id)
        self.last_id = max(self.last_id, entry.id)
        overflow = len(self.entries) - max_entries()
        if overflow > 0:
            for gone in self.entries[:overflow]:
                self.ids.discard(gone.id)
            del self.entries[:overflow]
        self._matrix = None

    def due(self, now: float) -> bool:
        """Whether a (re)load should start (none running, none yet or too old)."""
        return not self.loading and (
            not self.loaded_at or now - self.loaded_at >= refresh_seconds()
        )

    def nearest(self, vector: array[float], now: float) -> tuple[float, Entry] | None:
        """The most similar unexpired entry and its similarity (None: none comparable)."""
        if any(e.expires_at <= now for e in self.entries):
            self.entries = [e for e in self.entries if e.expires_at > now]
            self.ids = {e.id for e in self.entries}
            self._matrix = None
        same = [e for e in self.entries if len(e.vector) == len(vector)]
        if not same:
            return None
        np = _numpy()
        if np is not None:
            # rebuilt when entries came or went, or for a query of other dimensions (an
            # embedding route that changed models): never a stale matrix
            if self._matrix is None or self._stacked != same:
                self._matrix = np.stack([np.frombuffer(e.vector, dtype=np.float32) for e in same])
                self._stacked = same
            scores = self._matrix @ np.frombuffer(vector, dtype=np.float32)
            best = int(scores.argmax())
            return float(scores[best]), same[best]
        return scan(same, vector)


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
