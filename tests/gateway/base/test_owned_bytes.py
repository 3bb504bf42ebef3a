"""owned(): a short bytes object comes back as an equal copy of its own size, a long
one as it is."""

from __future__ import annotations

import tracemalloc

import orjson

from gateway.base.owned_bytes import ORJSON_BLOCK, owned


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
