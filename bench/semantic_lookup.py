"""The semantic cache's nearest-neighbour lookup at N entries (issue #65: is the
in-process index fast enough, or should SQLite's sqlite-vec search it?). Times one
lookup of a (route, scope) index holding N unit vectors of D dimensions:

- ``index``: ``gateway.features.semantic_cache.index.Index.nearest``, what the request
  path runs (numpy's matrix product over the stacked vectors, the expiry sweep and the
  dimension filter included);
- ``index after an add``: an entry added (a miss kept here, or heard from another
  process) and then a lookup: what a busy cache pays;
- ``python``: the same index without numpy (``index.scan``, the fallback);
- ``sqlite-vec``: a ``vec0`` virtual table's KNN query (``MATCH ... AND k = 1``, cosine
  distance) in an SQLite file, when the extension loads: the standard library's
  ``sqlite3`` must allow ``enable_load_extension`` (Debian's and python.org's builds
  do; a build without it is skipped), else through ``apsw`` when it is installed
  (``pip install --target DIR sqlite-vec apsw`` and ``PYTHONPATH=DIR:.``).

Run: ``PYTHONPATH=. python bench/semantic_lookup.py [--entries 10000] [--dims 1536]``
(no Django settings needed). Each figure is the median of ``--rounds`` lookups after a
warm-up; the results of the three searches are checked to be the same entry."""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from array import array
from decimal import Decimal
from typing import Any


def vectors(n: int, dims: int, seed: int = 65) -> list[array[float]]:
    from gateway.features.semantic_cache import index

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        unit = index.unit([rng.gauss(0, 1) for _ in range(dims)])
        assert unit is not None
        out.append(unit)
    return out


def median_ms(run: Any, rounds: int) -> float:
    run()  # warm-up (numpy's matrix is stacked at the first lookup after a change)
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def sqlite_vec_connection(path: str) -> Any | None:
    """A connection to ``path`` with sqlite-vec loaded, or None (why printed)."""
    try:
        import sqlite_vec
    except ImportError:
        print("sqlite-vec: not installed (pip install sqlite-vec)")
        return None
    import sqlite3

    conn = sqlite3.connect(path)
    if hasattr(conn, "enable_load_extension"):
        conn.enable_load_extension(True)
        sqlite_vec.load(conn)
        conn.enable_load_extension(False)
        return conn
    conn.close()
    print("sqlite-vec: this Python's sqlite3 cannot load extensions; trying apsw")
    try:
        import apsw
    except ImportError:
        print("sqlite-vec: apsw not installed either: skipped")
        return None
    aconn = apsw.Connection(path)
    aconn.enable_load_extension(True)
    aconn.load_extension(sqlite_vec.loadable_path())
    return aconn


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--dims", type=int, default=1536)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    os.environ["SWITCHYARD_SEMANTIC_CACHE_MAX_ENTRIES"] = str(args.entries)

    from gateway.features.semantic_cache import index

    stored = vectors(args.entries, args.dims)
    asked = vectors(args.rounds + 1, args.dims, seed=66)
    found = index.Index()
    for i, vector in enumerate(stored, 1):
        found.add(index.Entry(i, vector, 1e12, b"", Decimal(0)))
    print(f"{args.entries} entries of {args.dims} dimensions, median of {args.rounds} lookups")

    turn = iter(range(10**9))

    def next_query() -> array[float]:
        return asked[next(turn) % len(asked)]

    results: dict[str, float] = {}
    results["index"] = median_ms(lambda: found.nearest(next_query(), 0.0), args.rounds)
    expected = found.nearest(asked[0], 0.0)
    assert expected is not None
    added_rounds = max(3, args.rounds // 5)
    more = iter(vectors(added_rounds + 1, args.dims, seed=67))
    fresh = iter(range(args.entries + 1, 10**9))
    again = index.Index()  # the same entries, so that ``found`` stays as measured
    for entry in found.entries:
        again.add(entry)

    def add_then_look() -> None:  # a new entry (a miss kept) before the lookup
        again.add(index.Entry(next(fresh), next(more), 1e12, b"", Decimal(0)))
        again.nearest(next_query(), 0.0)

    results["index after an add"] = median_ms(add_then_look, added_rounds)
    python_rounds = max(3, args.rounds // 10)
    results["python"] = median_ms(lambda: index.scan(found.entries, next_query()), python_rounds)

    scanned = index.scan(found.entries, asked[0])
    assert scanned is not None and scanned[1].id == expected[1].id

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite_vec_connection(os.path.join(tmp, "vec.sqlite3"))
        if conn is not None:
            conn.execute(
                f"CREATE VIRTUAL TABLE v USING vec0(embedding float[{args.dims}] "
                "distance_metric=cosine)"
            )
            conn.execute("BEGIN")
            for i, vector in enumerate(stored, 1):
                conn.execute("INSERT INTO v(rowid, embedding) VALUES (?, ?)", (i, vector.tobytes()))
            conn.execute("COMMIT")

            def knn(query: array[float]) -> tuple[int, float]:
                rows = list(
                    conn.execute(
                        "SELECT rowid, distance FROM v WHERE embedding MATCH ? AND k = 1",
                        (query.tobytes(),),
                    )
                )
                return int(rows[0][0]), float(rows[0][1])

            got = knn(asked[0])
            assert got[0] == expected[1].id, (got, expected[1].id)
            assert abs((1 - got[1]) - expected[0]) < 1e-4
            results["sqlite-vec"] = median_ms(lambda: knn(next_query()), args.rounds)
            conn.close()

    for name, ms in results.items():
        print(f"{name:>18}: {ms:9.2f} ms a lookup")


if __name__ == "__main__":
    main()
