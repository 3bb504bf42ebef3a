"""owned(): a short bytes object comes back as an equal copy of its own size, a long
one as it is; fitted(): any orjson output as a copy of its own size."""

from __future__ import annotations

import tracemalloc

import orjson

from gateway.base.owned_bytes import ORJSON_BLOCK, fitted, owned


def test_a_short_orjson_output_is_copied_to_its_own_size() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = [owned(orjson.dumps({"n": i})) for i in range(1000)]
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert held < 200_000, held  # as orjson leaves them: over 4 MB
    assert kept[3] == b'{"n":3}'


def test_a_long_value_and_other_types_are_kept_as_they_are() -> None:
    long = b"x" * ORJSON_BLOCK
    assert owned(long) is long
    view = bytearray(b"abc")
    assert owned(view) is view  # type: ignore[arg-type]


def test_a_long_orjson_output_is_fitted_to_its_length() -> None:
    """An agent's request as ``orjson.dumps`` leaves it holds up to twice its length
    (the buffer's doubling); fitted, what it holds is its length."""
    body = {"messages": [{"role": "user", "content": f"turn {i} " + "x" * 700} for i in range(200)]}
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        dumped = [orjson.dumps(body) for _ in range(20)]
        as_dumped = tracemalloc.get_traced_memory()[0] - before
        kept = [fitted(value) for value in dumped]
        del dumped
        as_fitted = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    length = len(kept[0])
    assert as_dumped > 20 * length * 1.2, (as_dumped, length)  # orjson's slack, measured
    assert as_fitted < 20 * (length + 1024), (as_fitted, length)
    assert orjson.loads(kept[0]) == body
