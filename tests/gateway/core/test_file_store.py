"""The file store: a local directory (atomic writes: a failed upload leaves no file and
no row) and S3-compatible storage through botocore, against a real S3 server on
127.0.0.1 (moto's server mode)."""

from __future__ import annotations

import io

import pytest

from gateway.core.files import api as files
from gateway.core.files import store
from gateway.core.files.models import StoredFile
from gateway.policy import registry
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
        files.create(registry.MASTER, "batch", "in.jsonl", Broken(), 10, None)
    assert not StoredFile.objects.exists()
    assert [p.name for p in (tmp_path / "files").iterdir()] == []


@pytest.mark.django_db
def test_s3_store_against_a_real_s3_server(settings):
    with s3_server() as endpoint:
        for name, value in store_env(endpoint).items():
            setattr(settings, name, value)
        s3 = store.current()
        assert isinstance(s3, store.S3Store) and s3.describe() == "s3://switchyard-files/gateway"
        made = files.create(registry.MASTER, "batch", "in.jsonl", io.BytesIO(b'{"a":1}\n'), 8, None)
        assert files.content(registry.MASTER, made["id"]) == b'{"a":1}\n'
        listed = s3.client().list_objects_v2(Bucket="switchyard-files")["Contents"]
        assert [o["Key"] for o in listed] == [f"gateway/{made['id']}"]
        files.delete(registry.MASTER, made["id"])
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
    old = files.create(registry.MASTER, "batch", "a.jsonl", io.BytesIO(b"{}"), 2, soon)
    kept = files.create(registry.MASTER, "batch", "b.jsonl", io.BytesIO(b"{}"), 2, None)
    assert files.prune_expired() == 0
    assert files.prune_expired(soon + timedelta(seconds=1)) == 1
    assert list(StoredFile.objects.values_list("id", flat=True)) == [kept["id"]]
    assert [p.name for p in (tmp_path / "files").iterdir()] == [kept["id"]]
    assert old["id"] != kept["id"]
