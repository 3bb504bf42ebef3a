"""The batch tables (``gateway.models.batches``): a batch reads as its id, its lines as
batch#index, once per index, newest batch first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from gateway.models import Batch, BatchLine

pytestmark = pytest.mark.django_db


def batch(id: str, age: int = 0) -> Batch:
    now = timezone.now() - timedelta(minutes=age)
    return Batch.objects.create(
        id=id, endpoint="/v1/chat/completions", created_at=now, expires_at=now + timedelta(days=1)
    )


def test_a_batch_reads_as_its_id_and_lists_newest_first() -> None:
    old, new = batch("batch_old", age=5), batch("batch_new")
    assert str(old) == "batch_old"
    assert list(Batch.objects.all()) == [new, old]
    assert new.status == "validating" and new.status in Batch.UNFINISHED


def test_a_line_is_once_per_index_and_reads_as_batch_and_index() -> None:
    row = batch("batch_1")
    line = BatchLine.objects.create(batch=row, index=0, custom_id="a", body={})
    BatchLine.objects.create(batch=row, index=1, custom_id="b", body={})
    assert str(line) == "batch_1#0"
    assert [x.index for x in row.lines.all()] == [0, 1]
    with pytest.raises(IntegrityError), transaction.atomic():
        BatchLine.objects.create(batch=row, index=0, custom_id="c", body={})
