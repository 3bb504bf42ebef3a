"""Which of many literal markers a long text holds, in one pass (Hyperscan).

``str``'s own search passes over the text once per marker at about 2 GB/s: over a coding
agent's 150 KB request body, the dozen markers the journal's redaction looks for took
about 500 us. Hyperscan matches them all in one vectorised pass (about 20 us there).

``scanner(exact, caseless)`` compiles a set of markers once (cached): ``exact`` ones match
as written, ``caseless`` ones (ASCII only) in any ASCII case. ``Scanner.found(text)`` is
the set of markers ``text`` holds, or None when the scan could not run; callers then
search the way they would without it. Hyperscan is an optional dependency (its wheels
are for x86-64 Linux and macOS): without it ``scanner`` is None, and it is imported on
the first long text, so a process that never sees one does not load it (about 6 MB).

It sits on the floor: plain text work with no knowledge of what the markers mean."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Container
from typing import Any

log = logging.getLogger(__name__)

_unavailable = False  # hyperscan failed to import or compile once: never tried again


class _Compiled:
    """A Hyperscan database and a scratch for each thread that scans with it."""

    def __init__(self, database: Any, scratch_type: Any) -> None:
        self.database = database
        self._scratch_type = scratch_type
        self._local = threading.local()

    def scan(self, data: bytes, handler: Any, context: list[int]) -> bool:
        """``data`` scanned, each match handed to ``handler`` with ``context``; False
        when the scan failed (never let it cost a caller its text)."""
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = self._scratch_type(self.database)
        try:
            self.database.scan(data, match_event_handler=handler, context=context, scratch=scratch)
        except Exception as exc:  # hyperscan.error
            log.debug("marker scan failed: %s", exc)
            return False
        return True


def _compiled(
    expressions: list[bytes], single: bool = False, caseless: Container[int] = ()
) -> _Compiled | None:
    """Literal ``expressions`` compiled (ids by position; ``single``: each reported
    once; ``caseless``: the positions matched in any ASCII case), or None without
    Hyperscan or when they cannot be compiled (never tried again then)."""
    global _unavailable
    if _unavailable:
        return None
    try:
        import hyperscan

        database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
        database.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=[
                (hyperscan.HS_FLAG_SINGLEMATCH if single else 0)
                | (hyperscan.HS_FLAG_CASELESS if i in caseless else 0)
                for i in range(len(expressions))
            ],
            literal=True,
        )
        return _Compiled(database, hyperscan.Scratch)
    except Exception as exc:  # ImportError, or hyperscan.error (a CPU without SSSE3)
        _unavailable = True
        log.info("searching long texts without Hyperscan: %s", exc)
        return None


class Scanner:
    """A compiled marker set. Thread-safe: each thread scans with its own scratch."""

    def __init__(self, compiled: _Compiled, markers: tuple[str, ...]) -> None:
        self._compiled = compiled
        self._markers = markers

    def found(self, text: str) -> frozenset[str] | None:
        """The markers ``text`` holds; None when the scan failed."""
        hits: list[int] = []
        if not self._compiled.scan(text.encode("utf-8", "surrogatepass"), _note_hit, hits):
            return None
        markers = self._markers
        return frozenset(markers[i] for i in hits)


def _note_hit(pattern: int, start: int, end: int, flags: int, hits: list[int]) -> None:
    hits.append(pattern)  # once per marker: compiled with HS_FLAG_SINGLEMATCH


@functools.lru_cache(maxsize=8)
def scanner(exact: tuple[str, ...], caseless: tuple[str, ...] = ()) -> Scanner | None:
    """A scanner for these markers, or None without Hyperscan (or when it cannot compile
    them). ``caseless`` markers must be ASCII."""
    markers = tuple(dict.fromkeys(m for m in (*exact, *caseless) if m))
    if not markers:
        return None
    folded = set(caseless)
    compiled = _compiled(
        [m.encode("utf-8", "surrogatepass") for m in markers],
        single=True,
        caseless={i for i, m in enumerate(markers) if m in folded},
    )
    return Scanner(compiled, markers) if compiled is not None else None


def marker_starts(text: str, marker: str) -> list[int] | None:
    """Where each occurrence of the ASCII ``marker`` starts in ``text``, in order, in one
    vectorised pass (about 7 us over 140 KB where ``str.find`` took 30 to 60 us); None
    when ``text`` is not ASCII (its utf-8 offsets are not its characters') or the scan
    could not run: the caller then searches with ``str.find``."""
    locator = _locator(marker) if text.isascii() else None
    ends: list[int] = []
    if locator is None or not locator.scan(text.encode("ascii"), _note_end, ends):
        return None
    return sorted(end - len(marker) for end in ends)


def _note_end(pattern: int, start: int, end: int, flags: int, ends: list[int]) -> None:
    ends.append(end)


@functools.lru_cache(maxsize=8)
def _locator(marker: str) -> _Compiled | None:
    """A compiled database reporting every occurrence of ``marker``, or None without
    Hyperscan."""
    return _compiled([marker.encode("ascii")]) if marker else None
