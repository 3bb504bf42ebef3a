"""Bytes kept past their request, at their own size.

``orjson.dumps`` returns its output inside the buffer it wrote into: a 4 KiB block
however short the JSON (100,000 outputs of 200 bytes held 393 MB of RSS; copies of them
17 MB). What a process keeps after the request that made it (queued journal records,
cached answers) goes through ``owned`` first, so the bounds that count its length
(``SWITCHYARD_JOURNAL_MAX_BYTES``, the response cache's bytes) count what it holds.
What is built to be sent upstream and kept for the journal goes through ``fitted``."""

from __future__ import annotations

ORJSON_BLOCK = 4096  # the smallest block orjson writes into


def owned(value: bytes) -> bytes:
    """``value`` in an allocation of its own size when it is shorter than orjson's block
    (a copy: about 100 ns); a longer one as it is. Past the block orjson's buffer stays
    within twice the output (RSS of 2,000 outputs against copies: 1.8x at 5 KB, 1.4x at
    10 KB, 1.15x at 50 KB), while many long bodies (a stream's, a client's) are already
    their own size and a copy would only cost."""
    if type(value) is bytes and len(value) < ORJSON_BLOCK:
        return memoryview(value).tobytes()
    return value


def fitted(value: bytes) -> bytes:
    """``orjson.dumps``'s output copied into an allocation of its own size, whatever its
    length: a body built to be sent upstream is held for the whole exchange and then
    queued for the journal, and orjson's buffer grows by doubling, so a 147 KB agent's
    request held 260 KB (tracemalloc; 1.77x). The copy costs about 1.5 µs at 150 KB
    (``memcpy``), against 60 µs for the ``dumps`` itself (#67: the journal's queue after
    an agents' load held 52 MB of such bodies in one worker, a third of it the buffers'
    slack)."""
    return memoryview(value).tobytes()
