"""The journal's spool: bodies appended to an anonymous file, read back, released, the
file cut once nothing is outstanding; its bound; records' bodies moved and restored
exactly."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway import journal
from gateway.journal import rows
from gateway.journal.record import Record, Spliced
from gateway.journal.spool import Spool, Spooled, release, restore, spillable, spooled_bodies
from tests.gateway.journal.test_background import _agent_body


def test_bodies_are_appended_read_back_and_the_file_cut_once_all_are_released(
    tmp_path: Path,
) -> None:
    spool = Spool(1 << 20, str(tmp_path))
    first, second = spool.put(b"a" * 5000), spool.put(b"b" * 3000)
    assert first == Spooled(0, 5000) and second == Spooled(5000, 3000)
    assert spool.take(second) == b"b" * 3000 and spool.take(first) == b"a" * 5000
    assert (spool.outstanding, spool.outstanding_bytes, spool.size()) == (2, 8000, 8000)
    assert list(tmp_path.iterdir()) == []  # anonymous: a crash leaves nothing behind
    spool.release(first)
    spool.trim()
    assert spool.size() == 8000  # the second is still wanted
    spool.release(second)
    spool.trim()
    assert (spool.outstanding, spool.outstanding_bytes, spool.size()) == (0, 0, 0)
    assert spool.put(b"c" * 10) == Spooled(0, 10)  # from the start again


def test_the_bound_refuses_a_body_that_would_pass_it(tmp_path: Path) -> None:
    spool = Spool(10_000, str(tmp_path))
    kept = spool.put(b"x" * 6000)
    assert kept is not None and spool.put(b"y" * 6000) is None
    assert spool.outstanding_bytes == 6000
    spool.release(kept)
    assert spool.put(b"y" * 6000) is not None


def test_an_unwritable_directory_raises_and_keeps_nothing(tmp_path: Path) -> None:
    spool = Spool(1 << 20, str(tmp_path / "missing"))
    with pytest.raises(OSError):
        spool.put(b"x" * 5000)
    assert (spool.outstanding, spool.outstanding_bytes) == (0, 0)


def test_a_short_read_is_an_error_not_a_short_body(tmp_path: Path) -> None:
    spool = Spool(1 << 20, str(tmp_path))
    spooled = spool.put(b"x" * 5000)
    assert spooled is not None
    with pytest.raises(OSError, match="read back"):
        spool.take(Spooled(spooled.offset, 6000))


def unreadable(spooled: Spooled) -> bytes:
    raise OSError(5, "Input/output error")


def _passed_through(request_id: str) -> Record:
    answer = b'{"id":"r","content":"' + b"y" * 6000 + b'"}'
    return Record(
        request_id=request_id,
        inbound_request=_agent_body("claude-sonnet-4-5"),
        upstream_request=_agent_body("my-sonnet"),
        upstream_response=answer,
        outbound_response=answer,  # the same object: spooled once
    )


def _spill(rec: Record, spool: Spool) -> None:
    """What the writer's spool thread does to a queued record."""
    for names, body in spillable(rec):
        spooled = spool.put(body)
        assert spooled is not None
        for name in names:
            setattr(rec, name, spooled)
        rec.queued_bytes -= len(body)
        rec.spooled_bytes += len(body)


def test_a_record_spooled_and_restored_is_stored_as_if_it_never_left(
    settings, tmp_path: Path
) -> None:
    """A passed-through record: the upstream request queued as a ``Spliced`` over the
    caller's body, which is spooled; the answer held by two fields, spooled once."""
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 1_000_000
    spool = Spool(1 << 24, str(tmp_path))
    rec, kept = _passed_through("p"), _passed_through("p")
    journal.admit(rec)
    journal.admit(kept)
    assert isinstance(rec.upstream_request, Spliced)
    before = rec.queued_bytes
    _spill(rec, spool)
    assert type(rec.inbound_request) is Spooled and rec.upstream_response is rec.outbound_response
    assert spool.outstanding == 2 and len(spooled_bodies(rec)) == 2
    assert rec.queued_bytes + rec.spooled_bytes == before
    restore(rec, spool)
    assert rec.upstream_response is rec.outbound_response  # one object again
    assert (rec.spooled_bytes, rec.queued_bytes, spool.outstanding) == (0, before, 0)
    assert rows.body_values(rec, 1_000_000) == rows.body_values(kept, 1_000_000)


def test_a_restore_that_cannot_read_leaves_the_record_as_it_was(
    settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 1_000_000
    spool = Spool(1 << 24, str(tmp_path))
    rec = _passed_through("p")
    journal.admit(rec)
    _spill(rec, spool)
    fields = [rec.inbound_request, rec.upstream_response]
    monkeypatch.setattr(spool, "take", unreadable)
    with pytest.raises(OSError):
        restore(rec, spool)
    assert [rec.inbound_request, rec.upstream_response] == fields and rec.spooled_bytes
    release(rec, spool)  # (the writer's shedding)
    assert (spool.outstanding, rec.spooled_bytes) == (0, 0)


def test_short_bodies_and_objects_stay_in_memory() -> None:
    rec = Record(
        request_id="s",
        inbound_request=b"q" * 100,
        upstream_request={"model": "m"},
        outbound_response="a" * 10_000,  # text is kept as it came
    )
    assert spillable(rec) == []
