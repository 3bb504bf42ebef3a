"""The writer with its spool: while the database lags, queued bodies past half the
memory bound go to disk and come back intact when written (after an outage, at
shutdown); a full or failing spool sheds as without one."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest
from django.db import OperationalError

from gateway.journal import Record, Writer, background
from gateway.journal.spool import Spooled
from tests.gateway.journal.test_background import wait_for
from tests.gateway.journal.test_spool import unreadable

BODY = 50_000  # about
BOUND = 400_000  # eight bodies


def body(n: int) -> bytes:
    return f"{n:06d}".encode() * (BODY // 6)


class GatedStore:
    """A ``write`` that waits at its gate, fails while ``down``, and keeps every body
    it was handed (the bytes ``write_batch`` would store)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.down = False
        self.bodies: dict[str, object] = {}

    def __call__(self, batch: list[Record]) -> list[int]:
        self.gate.wait(10)
        if self.down:
            raise OperationalError("database is down")
        for rec in batch:
            self.bodies[rec.request_id] = rec.inbound_request
        return list(range(len(batch)))


@pytest.fixture
def store(settings, tmp_path: Path) -> GatedStore:
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 1_000_000
    settings.DATA_DIR = tmp_path
    return GatedStore()


def writer_for(store: GatedStore, **options: int) -> Writer:
    writer = Writer(
        store, capacity=10_000, max_bytes=BOUND, batch_size=500, notify=False, **options
    )
    writer.flush_seconds = 0.01
    return writer


async def feed(writer: Writer, count: int, peak: list[int]) -> None:
    """``count`` records of a distinct 50 KB body each, each once the spool thread has
    brought the queue back under half its memory bound (as a live burst lets it)."""
    for n in range(count):
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
        peak.append(writer.pending_bytes + writer.in_flight_bytes)
        await wait_for(lambda: writer.pending_bytes <= writer.max_bytes // 2, seconds=2)


async def test_a_lagging_database_gets_every_body_while_memory_stays_within_its_bound(
    store: GatedStore,
) -> None:
    writer = writer_for(store)
    peak: list[int] = []
    await feed(writer, 60, peak)  # 3 MB of bodies against a bound of 400 KB
    assert max(peak) <= BOUND and writer.bodies_shed == 0
    stats = writer.stats()
    assert stats["spooled"] >= 40 and stats["spooled_bytes"] == stats["spooled"] * len(body(0))
    store.gate.set()
    await wait_for(lambda: len(store.bodies) == 60)
    assert store.bodies == {f"r{n}": body(n) for n in range(60)}
    assert writer.stats()["spooled"] == 0 and writer.dropped == 0
    assert writer.spool is not None and writer.spool.size() == 0  # cut once written
    await writer.drain()


async def test_without_a_spool_the_same_load_sheds(store: GatedStore) -> None:
    writer = writer_for(store, spool_bytes=0)
    for n in range(60):
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
        await asyncio.sleep(0.005)
    assert writer.bodies_shed > 45
    store.gate.set()
    await writer.drain()


async def test_a_full_spool_sheds_as_before(store: GatedStore) -> None:
    writer = writer_for(store, spool_bytes=3 * BODY)
    for n in range(30):
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
        await asyncio.sleep(0.005)
    await wait_for(lambda: writer.stats()["spooled"] == 3)  # the newest three, kept there
    assert writer.bodies_shed > 0
    store.gate.set()
    await wait_for(lambda: len(store.bodies) == 30)
    kept = {rid: data for rid, data in store.bodies.items() if data is not None}
    assert kept == {rid: body(int(rid[1:])) for rid in kept}
    assert len(kept) == 30 - writer.bodies_shed and writer.dropped == 0
    await writer.drain()


async def test_a_failing_disk_sheds_warns_once_and_never_raises(
    store: GatedStore, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    writer = writer_for(store)
    assert writer.spool is not None and writer.spool.directory == str(tmp_path)
    writer.spool.directory = str(tmp_path / "gone")  # (the file is made on first use)
    for n in range(30):
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
        await asyncio.sleep(0.005)
    assert writer.bodies_shed > 0 and writer.stats()["spooled"] == 0
    assert caplog.text.count("journal spool: disk unavailable") == 1
    store.gate.set()
    await wait_for(lambda: len(store.bodies) == 30)
    assert writer.dropped == 0
    await writer.drain()


async def test_a_body_that_cannot_be_read_back_is_stored_as_shed(
    store: GatedStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    writer = writer_for(store)
    await feed(writer, 20, [])
    assert writer.spool is not None and writer.stats()["spooled"] > 0
    monkeypatch.setattr(writer.spool, "take", unreadable)
    store.gate.set()
    await wait_for(lambda: len(store.bodies) == 20)
    shed = [rid for rid, data in store.bodies.items() if data is None]
    assert len(shed) == writer.bodies_shed > 0 and writer.stats()["spooled"] == 0
    assert "journal spool: disk unavailable" in caplog.text
    await writer.drain()


async def test_spooled_records_survive_an_outage_and_are_written_after_it(
    store: GatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(background, "MIN_BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(background, "MAX_BACKOFF_SECONDS", 0.05)
    store.down = True
    store.gate.set()
    writer = writer_for(store)
    await feed(writer, 40, [])
    await wait_for(lambda: writer.failures >= 3)
    assert writer.stats()["spooled"] > 0 and store.bodies == {}
    store.down = False
    await wait_for(lambda: len(store.bodies) == 40)
    assert store.bodies == {f"r{n}": body(n) for n in range(40)}
    assert writer.bodies_shed == writer.dropped == 0 and writer.stats()["spooled"] == 0
    await writer.drain()


async def test_drain_at_shutdown_writes_the_spooled_records(store: GatedStore) -> None:
    writer = writer_for(store)
    await feed(writer, 40, [])
    assert writer.stats()["spooled"] > 0
    store.gate.set()
    await writer.drain()
    assert store.bodies == {f"r{n}": body(n) for n in range(40)}
    assert writer.stats()["queued"] == writer.stats()["spooled"] == 0
    assert writer.spool is not None and writer.spool.size() == 0


def test_a_body_shed_or_written_while_it_was_being_spooled_stays_as_it_is(
    store: GatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The spool thread writes the file outside the lock: a record taken to be written
    meanwhile, or shed, keeps its body and the spooled copy is let go."""
    writer = writer_for(store)
    writer._spill_from = 10**12  # (spilled by hand below)
    for n in range(7):
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
    assert writer.spool is not None
    put = writer.spool.put
    newest, older = writer.pending[-1], writer.pending[-2]

    def meanwhile(data: bytes) -> Spooled | None:
        if data is newest.inbound_request:
            writer.pending.pop()  # taken to be written
        else:
            writer._shed(older)
        return put(data)

    monkeypatch.setattr(writer.spool, "put", meanwhile)
    writer._spill()
    assert newest.inbound_request == body(6) and older.bodies_shed
    assert newest.spooled_bytes == older.spooled_bytes == 0
    spooled = sum(rec.spooled_bytes for rec in writer.pending)
    assert spooled > 0 and writer.stats()["spooled_bytes"] == spooled  # the two let go


async def test_a_large_bound_spills_at_a_few_megabytes_and_keeps_its_room_for_records(
    store: GatedStore,
) -> None:
    """The spill points do not grow with the bound: at the default 64 MiB the queue
    holds about 8 MiB of bodies in memory before the spool takes the newest (down to
    4 MiB), while the bound keeps its room for the records an outage queues."""
    writer = writer_for(store)
    writer.max_bytes = 64 * 1024 * 1024
    writer._spill_from, writer._spill_to = background.SPILL_FROM_BYTES, background.SPILL_TO_BYTES
    for n in range(240):  # 12 MB of bodies while the database lags
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
        await asyncio.sleep(0)
    # (the count rises as each body is written, the queue's bytes when a round ends)
    await wait_for(
        lambda: (
            writer.stats()["spooled"] >= 60  # of 12 MB: 3 MB at least
            and writer.pending_bytes <= background.SPILL_FROM_BYTES + len(body(0))
        ),
        seconds=5,
    )
    assert writer.bodies_shed == 0
    store.gate.set()
    await wait_for(lambda: len(store.bodies) == 240)
    assert store.bodies == {f"r{n}": body(n) for n in range(240)}


def test_bodies_a_full_spool_left_in_memory_go_once_it_has_room(
    store: GatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A round the spool refused part of leaves older bodies in memory behind the newest
    on disk; the next round with room moves them too (it stopped at the newest spooled
    record: under an agents' burst a worker's queue then stayed at its memory bound and
    every record arriving shed its bodies), keeping the oldest, written next."""
    writer = writer_for(store)
    writer._spill_from = 10**12  # (spilled by hand below)
    for n in range(6):  # 300 KB in memory; the spill-to point is a quarter of 400 KB
        writer.record(Record(request_id=f"r{n}", inbound_request=body(n)))
    assert writer.spool is not None
    room = writer.spool.bound
    writer.spool.bound = len(body(0))  # full after one body
    writer._spill()
    on_disk = [rec.request_id for rec in writer.pending if rec.spooled_bytes]
    assert on_disk == ["r5"] and writer.pending_bytes > BOUND // 2
    writer.spool.bound = room
    writer._spill()
    in_memory = [rec.request_id for rec in writer.pending if not rec.spooled_bytes]
    assert in_memory == ["r0"] and writer.pending_bytes <= BOUND // 4
    assert writer.bodies_shed == 0
