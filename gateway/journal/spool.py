"""Queued records' bodies on disk: the journal's spool (one ``Spool`` per writer).

Under a burst of agents' requests (150 KB bodies, hundreds a second) the writer falls
behind and its queue would hold up to ``SWITCHYARD_JOURNAL_MAX_BYTES`` of bodies in the
worker's memory, then shed them. The writer's spool thread moves the newest queued
records' bodies here instead (``spill``), and the writer thread reads them back just
before their batch is written (``restore``): page cache, not the process's RSS.

The file is one anonymous temporary file in the data directory (unlinked at once: a
crash leaves nothing), appended to while anything is outstanding and truncated back to
nothing once every body put has been released. ``put`` refuses past the byte bound
(``SWITCHYARD_JOURNAL_SPOOL_BYTES``) and raises ``OSError`` for a full or unwritable
disk: the caller keeps the body in memory (the writer sheds at its memory bound, as
without a spool). ``take`` and ``release`` never wait for a write: ``release`` only
counts, so the event loop may call it; ``put`` and ``trim`` touch the file and belong
to threads."""

from __future__ import annotations

import os
import tempfile
import threading
from typing import IO, NamedTuple

from gateway.journal.record import Record
from gateway.journal.rows import BODY_FIELDS

SPILL_MIN_BYTES = 4096  # shorter bodies stay in memory: not worth a write and a read


class Spooled(NamedTuple):
    """A body in the spool: where it starts and how long it is."""

    offset: int
    length: int


class Spool:
    """An append-only temporary file of bodies, bounded by ``bound`` bytes outstanding."""

    def __init__(self, bound: int, directory: str | None = None) -> None:
        self.bound = bound
        self.directory = directory
        self.outstanding = 0  # bodies put and not released
        self.outstanding_bytes = 0
        self._end = 0  # where the next body goes
        self._file: IO[bytes] | None = None
        self._lock = threading.Lock()  # the counts (held for arithmetic only)
        self._file_lock = threading.Lock()  # the file's layout: put and trim

    def put(self, data: bytes) -> Spooled | None:
        """Append ``data``; where it is, or None when the bound would be passed.
        Raises ``OSError`` (nothing kept) when the file cannot be made or written."""
        with self._file_lock:
            with self._lock:
                if self.outstanding_bytes + len(data) > self.bound:
                    return None
                self.outstanding += 1
                self.outstanding_bytes += len(data)
            spooled = Spooled(self._end, len(data))
            try:
                self._write(data, spooled.offset)
            except OSError:
                self.release(spooled)
                raise
            self._end += len(data)
            return spooled

    def _write(self, data: bytes, offset: int) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(dir=self.directory)  # noqa: SIM115 (kept open)
        fd, view, done = self._file.fileno(), memoryview(data), 0
        while done < len(data):
            done += os.pwrite(fd, view[done:], offset + done)

    def take(self, spooled: Spooled) -> bytes:
        """The body at ``spooled`` (still outstanding until released)."""
        assert self._file is not None, "nothing was put"
        data = os.pread(self._file.fileno(), spooled.length, spooled.offset)
        if len(data) != spooled.length:
            raise OSError(f"journal spool: {len(data)} of {spooled.length} bytes read back")
        return data

    def release(self, spooled: Spooled) -> None:
        """``spooled`` is no longer needed (counts only: the file is cut by ``trim``)."""
        with self._lock:
            self.outstanding -= 1
            self.outstanding_bytes -= spooled.length

    def trim(self) -> None:
        """Cut the file back to nothing when no body is outstanding (in a thread)."""
        with self._file_lock:
            with self._lock:
                if self.outstanding or not self._end or self._file is None:
                    return
            try:
                os.ftruncate(self._file.fileno(), 0)
            except OSError:
                return  # appended to as before: tried again when next empty
            self._end = 0

    def size(self) -> int:
        """The file's length on disk (0 when never made)."""
        return 0 if self._file is None else os.fstat(self._file.fileno()).st_size


# --- records' bodies ------------------------------------------------------------------------


def spillable(rec: Record) -> list[tuple[tuple[str, ...], bytes]]:
    """``rec``'s bodies worth spooling, each once however many fields hold it (a
    passed-through response is the same bytes twice): (the fields, the bytes)."""
    found: dict[int, tuple[tuple[str, ...], bytes]] = {}
    for name in BODY_FIELDS:
        value = getattr(rec, name)
        if type(value) is bytes and len(value) >= SPILL_MIN_BYTES:
            names, _ = found.get(id(value), ((), value))
            found[id(value)] = ((*names, name), value)
    return list(found.values())


def spooled_bodies(rec: Record) -> set[Spooled]:
    return {value for name in BODY_FIELDS if type(value := getattr(rec, name)) is Spooled}


def restore(rec: Record, spool: Spool) -> None:
    """Read ``rec``'s spooled bodies back into its fields and release them (a body held
    by two fields comes back as one object, as it was queued). Raises ``OSError`` with
    ``rec`` unchanged when one cannot be read."""
    spooled = spooled_bodies(rec)
    read = {ref: spool.take(ref) for ref in spooled}
    for name in BODY_FIELDS:
        value = getattr(rec, name)
        if type(value) is Spooled:
            setattr(rec, name, read[value])
    for ref in spooled:
        spool.release(ref)
    rec.queued_bytes += rec.spooled_bytes
    rec.spooled_bytes = 0


def release(rec: Record, spool: Spool | None) -> None:
    """Let go of ``rec``'s spooled bodies (it is dropped, or shed)."""
    if spool is None or not rec.spooled_bytes:
        return
    for ref in spooled_bodies(rec):
        spool.release(ref)
    rec.spooled_bytes = 0
