"""The Files API's bookkeeping (``gateway.features.batches.files.api``): an upload's
purpose and lifetime checked, a file stored and recorded (its bytes removed when the row
cannot be made), each key seeing only its own files until they expire, the list paged
by (created_at, id) either way, content read and deleted, and expired files and their
bytes pruned. In process with a local store; ``/v1/files`` through the SDKs is in
``tests/gateway/edge/api/test_files_batches_live.py``."""

from __future__ import annotations

import dataclasses
import io
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from gateway.base.entries import MASTER
from gateway.base.errors import InvalidRequest, ModelNotFound
from gateway.features.batches.files import api, store
from gateway.models.files import StoredFile

MINE = dataclasses.replace(MASTER, id=5, name="mine")
THEIRS = dataclasses.replace(MASTER, id=6, name="theirs")


@pytest.fixture
def files(settings: Any, tmp_path: Path, db: None) -> Path:
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    return tmp_path / "files"


def _create(key: Any, data: bytes = b"{}\n", purpose: str = "batch", **row: Any) -> str:
    made = api.create(key, purpose, "in.jsonl", io.BytesIO(data), len(data), None)
    if row:
        StoredFile.objects.filter(id=made["id"]).update(**row)
    return str(made["id"])


@pytest.mark.parametrize(
    ("purpose", "filename", "param"),
    [
        (None, "a.jsonl", "purpose"),
        ("homework", "a.jsonl", "purpose"),
        ("batch", "a.csv", "file"),
    ],
)
def test_a_bad_upload_is_refused_naming_its_param(
    purpose: str | None, filename: str, param: str
) -> None:
    with pytest.raises(InvalidRequest) as refused:
        api.check_upload(purpose, filename)
    assert refused.value.param == param


def test_a_good_upload_keeps_its_purpose() -> None:
    assert api.check_upload("batch", "IN.JSONL") == "batch"
    assert api.check_upload("vision", "cat.png") == "vision"


def test_an_uploads_lifetime() -> None:
    now = timezone.now()
    batch = api.expiry("batch", None, None)
    assert batch is not None
    assert abs(batch - now - timedelta(days=api.BATCH_FILE_DAYS)) < timedelta(seconds=5)
    assert api.expiry("vision", None, None) is None  # kept until deleted
    chosen = api.expiry("vision", "created_at", "7200")
    assert chosen is not None and abs(chosen - now - timedelta(hours=2)) < timedelta(seconds=5)
    for anchor, seconds, param in (
        ("last_active_at", "7200", "expires_after[anchor]"),
        ("created_at", "1", "expires_after[seconds]"),
        ("created_at", "soon", "expires_after[seconds]"),
        ("created_at", None, "expires_after[seconds]"),
    ):
        with pytest.raises(InvalidRequest) as refused:
            api.expiry("batch", anchor, seconds)
        assert refused.value.param == param


def test_a_file_is_its_keys_until_it_expires(files: Path) -> None:
    file_id = _create(MINE, b'{"a": 1}\n')
    assert (files / file_id).read_bytes() == b'{"a": 1}\n'
    shown = api.retrieve(MINE, file_id)
    assert shown["object"] == "file" and shown["bytes"] == 9 and shown["purpose"] == "batch"
    assert shown["filename"] == "in.jsonl" and isinstance(shown["created_at"], int)
    assert api.content(MINE, file_id) == b'{"a": 1}\n'
    assert api.retrieve(MASTER, file_id)["id"] == file_id  # the master key sees all
    with pytest.raises(ModelNotFound):
        api.retrieve(THEIRS, file_id)
    StoredFile.objects.filter(id=file_id).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ModelNotFound):
        api.content(MINE, file_id)


def test_a_row_that_cannot_be_made_leaves_no_bytes(
    files: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(key: Any, size: int) -> None:
        raise InvalidRequest("over quota")

    monkeypatch.setattr(api.quota, "check_stored", full)
    store.current().put("file-upload", io.BytesIO(b"x"))
    with pytest.raises(InvalidRequest):
        api.record(MINE, "file-upload", "batch", "in.jsonl", 1, None)
    assert not (files / "file-upload").exists() and not StoredFile.objects.exists()


def test_the_list_pages_either_way(files: Path) -> None:
    now = timezone.now()
    ids = [_create(MINE, created_at=now + timedelta(seconds=i)) for i in range(3)]
    _create(MINE, purpose="vision", created_at=now + timedelta(seconds=9))
    _create(THEIRS)
    newest = api.listing(MINE, {"purpose": "batch"})
    assert [f["id"] for f in newest["data"]] == ids[::-1] and not newest["has_more"]
    first = api.listing(MINE, {"purpose": "batch", "order": "asc", "limit": "2"})
    assert [f["id"] for f in first["data"]] == ids[:2] and first["has_more"]
    assert first["first_id"] == ids[0] and first["last_id"] == ids[1]
    rest = api.listing(MINE, {"purpose": "batch", "order": "asc", "after": ids[1]})
    assert [f["id"] for f in rest["data"]] == ids[2:]
    assert api.listing(MINE, {"after": "file-gone"})["data"] == []
    assert len(api.listing(MINE, {})["data"]) == 4
    for query in ({"order": "up"}, {"limit": "0"}, {"limit": "x"}):
        with pytest.raises(InvalidRequest):
            api.listing(MINE, query)


def test_a_file_deleted_and_expired_ones_pruned(files: Path) -> None:
    kept, gone = _create(MINE), _create(MINE)
    assert api.delete(MINE, gone) == {"id": gone, "object": "file", "deleted": True}
    assert not (files / gone).exists()
    with pytest.raises(ModelNotFound):
        api.delete(MINE, gone)
    old = _create(MINE, expires_at=timezone.now() - timedelta(minutes=1))
    assert api.prune_expired() == 1
    assert not (files / old).exists() and (files / kept).exists()
    assert list(StoredFile.objects.values_list("id", flat=True)) == [kept]
