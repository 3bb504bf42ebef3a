"""The batch runner's bookkeeping: a line's result is saved once (a second save of
the same line, after a restart ran it again, changes nothing), a batch whose window
ended expires its remaining lines into the error file, a cancelled one cancels them,
and only one runner holds a batch at a time."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import orjson
import pytest
from django.utils import timezone

from gateway.base.entries import MASTER
from gateway.features.batches import runner
from gateway.features.batches.files import api as files
from gateway.models.batches import Batch, BatchLine
from gateway.models.files import StoredFile

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def local_store(tmp_path, settings):
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")


def make_batch(lines: int, **fields) -> Batch:
    now = timezone.now()
    batch = Batch.objects.create(
        id="batch_test", endpoint="/v1/chat/completions", total=lines, status="in_progress",
        created_at=now, expires_at=now + timedelta(hours=24), **fields,
    )  # fmt: skip
    BatchLine.objects.bulk_create(
        BatchLine(batch=batch, index=i, custom_id=f"c{i}", body={"model": "echo"})
        for i in range(lines)
    )
    return batch


def line_ids(batch: Batch) -> list[int]:
    return list(
        BatchLine.objects.filter(batch=batch).order_by("index").values_list("id", flat=True)
    )


def test_a_line_is_recorded_once():
    batch = make_batch(1)
    (line,) = line_ids(batch)
    assert runner._record(line, "succeeded", 200, "r1", {"n": 1}, Decimal("0.5"))
    assert not runner._record(line, "errored", 500, "r2", {"n": 2}, Decimal("0.7"))
    saved = BatchLine.objects.get(id=line)
    assert (saved.outcome, saved.request_id, saved.response) == ("succeeded", "r1", {"n": 1})


def test_window_end_expires_the_remaining_lines():
    batch = make_batch(3)
    first, *_ = line_ids(batch)
    runner._record(first, "succeeded", 200, "r1", {"ok": True}, Decimal("0.25"))
    runner._end(batch.id)
    assert Batch.objects.get(id=batch.id).status == "in_progress"  # still within its window
    Batch.objects.filter(id=batch.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    runner._end(batch.id)
    batch.refresh_from_db()
    assert batch.status == "expired" and batch.expired_at and batch.finalizing_at
    assert (batch.completed, batch.failed, batch.expired) == (1, 2, 2)
    assert batch.cost_usd == Decimal("0.25")
    errors = [orjson.loads(x) for x in files.content(MASTER, batch.error_file_id).splitlines()]
    assert [e["custom_id"] for e in errors] == ["c1", "c2"]
    assert {e["error"]["code"] for e in errors} == {"batch_expired"} and not errors[0]["response"]
    output = files.content(MASTER, batch.output_file_id).splitlines()
    assert orjson.loads(output[0])["response"] == {
        "status_code": 200,
        "request_id": "r1",
        "body": {"ok": True},
    }


def test_results_written_twice_are_one_file_each():
    """A process killed after writing the output and error files but before saving the
    batch: the next one writes them again under the same ids, no second file."""
    batch = make_batch(2)
    first, _second = line_ids(batch)
    runner._record(first, "succeeded", 200, "r1", {"ok": True}, Decimal("0.25"))
    Batch.objects.filter(id=batch.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    batch.refresh_from_db()
    before = runner._write_files(batch)  # the killed process's files
    runner._end(batch.id)
    batch.refresh_from_db()
    assert (batch.output_file_id, batch.error_file_id) == (
        before["output_file_id"],
        before["error_file_id"],
    )
    written = StoredFile.objects.filter(purpose="batch_output")
    assert sorted(written.values_list("id", flat=True)) == sorted(before.values())
    assert len(files.content(MASTER, batch.output_file_id).splitlines()) == 1


def test_cancelling_cancels_the_lines_left():
    batch = make_batch(2, key_id=None)
    Batch.objects.filter(id=batch.id).update(status="cancelling")
    runner._end(batch.id)
    batch.refresh_from_db()
    assert batch.status == "cancelled" and batch.cancelled_at and not batch.output_file_id
    assert set(BatchLine.objects.filter(batch=batch).values_list("outcome", flat=True)) == {
        "canceled"
    }


def test_one_runner_holds_a_batch():
    batch = make_batch(1)
    assert runner.RUNNER.claim("a") == batch.id
    assert runner.RUNNER.claim("b") is None  # the lease is a's
    assert (
        runner.RUNNER.renew(batch.id, "b") is None
        and runner.RUNNER.renew(batch.id, "a") == "in_progress"
    )
    Batch.objects.filter(id=batch.id).update(lease_until=timezone.now() - timedelta(seconds=1))
    assert runner.RUNNER.claim("b") == batch.id  # a's lease ran out: b resumes it
    assert runner.RUNNER.renew(batch.id, "a") is None
