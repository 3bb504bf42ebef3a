"""The file store: a local directory (atomic writes: a failed upload leaves no file and
no row) and S3-compatible storage through botocore, against a real S3 server on
127.0.0.1 (moto's server mode)."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from gateway.base.entries import MASTER
from gateway.features.batches.files import api as files
from gateway.features.batches.files import store
from gateway.models.files import StoredFile
from tests.s3_server import s3_server, store_env


class Broken(io.RawIOBase):
    """A source that fails half-way, as an upload cut off would."""

    def __init__(self) -> None:
        self.sent = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        if self.sent:
            raise OSError("connection reset")
        self.sent = True
        buffer[:5] = b"hello"
        return 5


def test_local_store_writes_atomically(tmp_path):
    local = store.LocalStore(tmp_path / "files")
    local.put("file-abc", io.BytesIO(b"line\n"))
    assert local.read("file-abc") == b"line\n"
    with pytest.raises(OSError):
        local.put("file-def", Broken())
    assert sorted(p.name for p in (tmp_path / "files").iterdir()) == ["file-abc"]
    local.delete("file-abc")
    with pytest.raises(store.FileStoreError):
        local.read("file-abc")
    with pytest.raises(ValueError):
        local.put("../escape", io.BytesIO(b"x"))


@pytest.mark.django_db
def test_a_failed_upload_leaves_no_row(tmp_path, settings):
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    with pytest.raises(OSError):
        files.create(MASTER, "batch", "in.jsonl", Broken(), 10, None)
    assert not StoredFile.objects.exists()
    assert [p.name for p in (tmp_path / "files").iterdir()] == []


@pytest.fixture
def s3_store(settings) -> Iterator[store.S3Store]:
    """The gateway's store pointed at a fresh moto S3 server with its bucket."""
    with s3_server() as endpoint:
        for name, value in store_env(endpoint).items():
            setattr(settings, name, value)
        s3 = store.current()
        assert isinstance(s3, store.S3Store)
        yield s3


@pytest.mark.django_db
def test_s3_store_against_a_real_s3_server(s3_store):
    s3 = s3_store
    assert s3.describe() == "s3://switchyard-files/gateway"
    made = files.create(MASTER, "batch", "in.jsonl", io.BytesIO(b'{"a":1}\n'), 8, None)
    assert files.content(MASTER, made["id"]) == b'{"a":1}\n'
    listed = s3.client().list_objects_v2(Bucket="switchyard-files")["Contents"]
    assert [o["Key"] for o in listed] == [f"gateway/{made['id']}"]
    files.delete(MASTER, made["id"])
    assert "Contents" not in s3.client().list_objects_v2(Bucket="switchyard-files")
    missing = store.S3Store("s3://no-such-bucket")
    with pytest.raises(store.FileStoreError) as refused:
        missing.put("file-x", io.BytesIO(b"x"))
    assert "NoSuchBucket" in refused.value.message
    assert "test-secret-key" not in refused.value.message


@pytest.mark.django_db
def test_expired_files_are_pruned(tmp_path, settings):
    from datetime import timedelta

    from django.utils import timezone

    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    soon = timezone.now() + timedelta(hours=1)
    old = files.create(MASTER, "batch", "a.jsonl", io.BytesIO(b"{}"), 2, soon)
    kept = files.create(MASTER, "batch", "b.jsonl", io.BytesIO(b"{}"), 2, None)
    assert files.prune_expired() == 0
    assert files.prune_expired(soon + timedelta(seconds=1)) == 1
    assert list(StoredFile.objects.values_list("id", flat=True)) == [kept["id"]]
    assert [p.name for p in (tmp_path / "files").iterdir()] == [kept["id"]]
    assert old["id"] != kept["id"]


def test_local_writer_commits_by_rename_and_aborts_to_nothing(tmp_path):
    local = store.LocalStore(tmp_path / "files")
    out = local.writer("file-w")
    out.write(b"part one, ")
    out.write(bytearray(b"part two\n"))
    assert [p.name.startswith(".upload-") for p in (tmp_path / "files").iterdir()] == [True]
    out.commit()
    assert local.read("file-w") == b"part one, part two\n"
    assert list(local.lines("file-w")) == [b"part one, part two\n"]
    dropped = local.writer("file-x")
    dropped.write(b"half")
    dropped.abort()
    assert [p.name for p in (tmp_path / "files").iterdir()] == ["file-w"]


def test_s3_writer_streams_a_multipart_upload_and_aborts_cleanly(s3_store):
    part = store.S3_PART_BYTES
    content = bytes(range(256)) * ((2 * part + 1234) // 256 + 1)  # two full parts and a tail
    s3 = s3_store
    client = s3.client()
    out = s3.writer("file-big")
    for i in range(0, len(content), 1_000_003):  # pieces that do not align with parts
        out.write(content[i : i + 1_000_003])
    assert out.upload_id is not None and len(out.parts) == 2  # sent while it came
    assert len(out.pending) < part  # at most one part held
    assert "Contents" not in client.list_objects_v2(Bucket="switchyard-files")  # not yet
    out.commit()
    head = client.head_object(Bucket="switchyard-files", Key="gateway/file-big")
    assert head["ContentLength"] == len(content) and head["ETag"].endswith('-3"')
    assert s3.read("file-big") == content
    assert b"".join(s3.lines("file-big")) == content

    small = s3.writer("file-small")  # under one part: one PutObject
    small.write(b'{"a": 1}\n{"b": 2}\n')
    small.commit()
    assert small.upload_id is None and list(s3.lines("file-small")) == [
        b'{"a": 1}\n',
        b'{"b": 2}\n',
    ]

    dropped = s3.writer("file-dropped")
    dropped.write(b"x" * (part + 10))  # one part uploaded, then the client left
    assert dropped.upload_id is not None
    dropped.abort()
    uploads = client.list_multipart_uploads(Bucket="switchyard-files")
    assert not uploads.get("Uploads")
    keys = [o["Key"] for o in client.list_objects_v2(Bucket="switchyard-files")["Contents"]]
    assert sorted(keys) == ["gateway/file-big", "gateway/file-small"]


def test_local_prune_removes_uploads_cut_off_with_their_worker(tmp_path):
    local = store.LocalStore(tmp_path / "files")
    kept = local.writer("file-kept")
    kept.write(b"done\n")
    kept.commit()
    cut = local.writer("file-cut")  # a SIGKILL mid-upload: neither commit nor abort
    cut.write(b"half")
    cut.out.close()
    hours_ago = time.time() - store.ABANDONED_SECONDS - 60
    os.utime(cut.temporary, (hours_ago, hours_ago))
    live = local.writer("file-live")  # an upload still coming: written just now
    live.write(b"coming")
    assert local.prune_abandoned() == 1
    names = sorted(p.name for p in (tmp_path / "files").iterdir())
    assert names == sorted(["file-kept", Path(live.temporary).name])
    assert not Path(cut.temporary).exists() and Path(live.temporary).exists()
    live.commit()
    assert local.read("file-live") == b"coming"


def test_s3_prune_aborts_multipart_uploads_left_behind(s3_store):
    s3 = s3_store
    client = s3.client()
    cut = s3.writer("file-cut")
    cut.write(b"x" * (store.S3_PART_BYTES + 10))  # a part is up: a multipart upload
    assert cut.upload_id is not None
    other = client.create_multipart_upload(Bucket="switchyard-files", Key="elsewhere/x")
    # moto lists every upload as begun on 2010-11-10, so "begun after the cutoff"
    # is a cutoff further back than that
    assert s3.prune_abandoned(idle_seconds=30 * 365 * 86400) == 0  # maybe still coming
    assert s3.prune_abandoned() == 1
    left = client.list_multipart_uploads(Bucket="switchyard-files").get("Uploads", [])
    assert [u["UploadId"] for u in left] == [other["UploadId"]]  # not under our prefix
