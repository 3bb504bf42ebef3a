"""The files table (``gateway.models.files``): a stored file reads as its id and lists
newest first."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from gateway.models import StoredFile

pytestmark = pytest.mark.django_db


def test_a_stored_file_reads_as_its_id_and_lists_newest_first() -> None:
    now = timezone.now()
    old = StoredFile.objects.create(
        id="file-old", purpose="batch", filename="a.jsonl", bytes=3, created_at=now - timedelta(1)
    )
    new = StoredFile.objects.create(id="file-new", purpose="batch", filename="b", bytes=1)
    assert str(old) == "file-old"
    assert new.status == "processed"
    assert list(StoredFile.objects.all()) == [new, old]
