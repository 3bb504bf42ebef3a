"""Each key's storage quota on ``/v1/files`` (``SWITCHYARD_FILES_QUOTA_BYTES``): an
upload past what is left is refused with a 413 in OpenAI's envelope and leaves nothing
(no row, no bytes), whether the key is full when the upload starts, the file passes the
quota while it streams, or another upload filled it meanwhile. Through the files
endpoint (``batch_endpoints.serve``) in process, with a local store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import orjson
import pytest
from asgiref.sync import sync_to_async

from gateway import journal
from gateway.base.entries import MASTER
from gateway.base.errors import RequestTooLarge
from gateway.codecs.openai_media.forms import encode
from gateway.core.service import Caller
from gateway.edge import batch_endpoints, endpoints
from gateway.features.batches.files import api as files
from gateway.features.batches.files import quota, store
from gateway.models.files import StoredFile

BOUNDARY = "b0und"
KEY = dataclasses.replace(MASTER, id=4242, name="uploader", prefix="sy-up")
OTHER = dataclasses.replace(MASTER, id=4243, name="other", prefix="sy-ot")

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def files_dir(settings, tmp_path, monkeypatch) -> Path:
    settings.SWITCHYARD_FILE_STORE = str(tmp_path / "files")
    settings.SWITCHYARD_FILES_QUOTA_BYTES = 1000
    settings.REDIS_URL = ""
    monkeypatch.setattr(journal, "record", lambda record: None)
    return tmp_path / "files"


def form(content: bytes) -> bytes:
    return encode(
        [("purpose", "user_data")], [("file", "notes.txt", "text/plain", content)], BOUNDARY
    )


async def upload(key, content: bytes, chunk: int = 100) -> tuple[int, dict]:
    raw = form(content)
    pieces = [raw[i : i + chunk] for i in range(0, len(raw), chunk)]

    async def receive() -> dict:
        piece = pieces.pop(0)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    headers = {"content-type": f"multipart/form-data; boundary={BOUNDARY}"}
    scope = {"type": "http", "method": "POST", "path": "/v1/files", "headers": []}
    found = batch_endpoints.target("/v1/files")
    assert found is not None
    io = batch_endpoints.Io(endpoints.read_body, endpoints.send_reply)
    await batch_endpoints.serve(scope, receive, send, found, headers, Caller(key=key), io)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


def stored(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


async def test_uploads_fit_until_the_quota_then_get_a_413_leaving_nothing(files_dir):
    status, first = await upload(KEY, b"x" * 600)
    assert status == 200 and first["bytes"] == 600
    # 600 + 600 > 1000: stopped while it streams, past the 400 bytes left
    status, body = await upload(KEY, b"y" * 600)
    assert status == 413
    error = body["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "storage_quota_exceeded"
    assert "quota of 1000 bytes" in error["message"] and "400 left" in error["message"]
    assert stored(files_dir) == [first["id"]]  # no bytes, no temporary file
    assert await StoredFile.objects.filter(key_id=KEY.id).acount() == 1
    # what fits still does; then the key is full and refused before its body is read
    status, _ = await upload(KEY, b"z" * 400)
    assert status == 200
    status, body = await upload(KEY, b"!")
    assert status == 413 and "0 left" in body["error"]["message"]
    # another key has a quota of its own; deleting files makes room
    assert (await upload(OTHER, b"o" * 900))[0] == 200
    await sync_to_async(files.delete)(KEY, first["id"])
    assert (await upload(KEY, b"w" * 600))[0] == 200


async def test_the_row_is_refused_when_another_upload_filled_the_quota(files_dir):
    """Two uploads each fit what was left when they started; the second to finish is
    refused when its row would be created, and its bytes are removed."""
    target = store.current()
    for name in ("file-aaa", "file-bbb"):
        writer = target.writer(name)
        writer.write(b"d" * 700)
        writer.commit()
    await sync_to_async(files.record)(KEY, "file-aaa", "user_data", "a.txt", 700, None)
    with pytest.raises(RequestTooLarge, match="quota"):
        await sync_to_async(files.record)(KEY, "file-bbb", "user_data", "b.txt", 700, None)
    assert stored(files_dir) == ["file-aaa"]
    assert await StoredFile.objects.filter(key_id=KEY.id).acount() == 1


async def test_no_quota_for_the_master_key_or_when_set_to_zero(files_dir, settings):
    assert await sync_to_async(quota.of)(MASTER) is None
    assert (await upload(MASTER, b"m" * 1500))[0] == 200
    settings.SWITCHYARD_FILES_QUOTA_BYTES = 0
    assert await sync_to_async(quota.of)(KEY) is None
    assert (await upload(KEY, b"k" * 1500))[0] == 200
