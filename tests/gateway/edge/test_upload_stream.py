"""``/v1/files`` uploads read from the receive loop into the store as they arrive: the
file reaches the store before the body ends, the cap stops the upload where it is
passed, and a cap, a malformed body or a client going away leaves nothing behind."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base.errors import InvalidRequest, RequestTooLarge
from gateway.codecs.openai_media.forms import encode
from gateway.edge import upload_stream
from gateway.features.batches.files import store

KIND = "multipart/form-data; boundary=b0und"
MIB = 1024 * 1024


def body(content: bytes, purpose: str = "batch", filename: str = "in.jsonl") -> bytes:
    return encode(
        [("purpose", purpose)], [("file", filename, "application/jsonl", content)], "b0und"
    )


class Client:
    """An ASGI receive callable sending ``raw`` in ``size``-byte chunks, then (when
    ``leave_after`` chunks were sent) a disconnect; it counts what was taken."""

    def __init__(self, raw: bytes, size: int = 65536, leave_after: int | None = None) -> None:
        self.chunks = [raw[i : i + size] for i in range(0, len(raw), size)]
        self.leave_after = leave_after
        self.taken = 0
        self.on_chunk = lambda taken: None

    async def __call__(self) -> dict:
        if self.leave_after is not None and self.taken >= self.leave_after:
            return {"type": "http.disconnect"}
        chunk = self.chunks[self.taken]
        self.taken += 1
        self.on_chunk(self.taken)
        more = self.taken < len(self.chunks)
        return {"type": "http.request", "body": chunk, "more_body": more}


def receive(client: Client, folder, file_limit: int = 10 * MIB, body_limit: int = 0, **more):  # type: ignore[no-untyped-def]
    local = store.LocalStore(folder)
    body_limit = body_limit or file_limit + 65536
    return asyncio.run(
        upload_stream.receive_upload(
            client, KIND, file_limit, body_limit, lambda: local.writer("file-1"), **more
        )
    )


def leftovers(folder) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_the_file_reaches_the_store_while_it_arrives(tmp_path):
    content = b'{"custom_id": "x"}\n' * (3 * MIB // 19)
    client = Client(body(content), size=50_001)  # chunks that cut lines and the boundary
    written_mid_way: list[int] = []

    def look(taken: int) -> None:
        if taken == len(client.chunks) - 1:  # before the last chunk is received
            temporary = [p for p in tmp_path.iterdir() if p.name.startswith(".upload-")]
            written_mid_way.append(temporary[0].stat().st_size)

    client.on_chunk = look
    upload = receive(client, tmp_path)
    assert written_mid_way and written_mid_way[0] >= 2 * MIB  # not held until the end
    assert (upload.fields, upload.filename, upload.size) == (
        {"purpose": "batch"},
        "in.jsonl",
        len(content),
    )
    assert leftovers(tmp_path) != ["file-1"]  # not yet: the caller commits
    upload.writer.commit()
    assert (tmp_path / "file-1").read_bytes() == content
    assert leftovers(tmp_path) == ["file-1"]


def test_past_the_cap_the_upload_stops_there_and_leaves_nothing(tmp_path):
    for file_limit, body_limit in ((MIB, 100 * MIB), (100 * MIB, MIB)):  # either cap
        client = Client(body(b"x" * (4 * MIB)), size=65536)
        with pytest.raises(RequestTooLarge, match=f"limit of {file_limit} bytes"):
            receive(client, tmp_path, file_limit=file_limit, body_limit=body_limit)
        assert client.taken <= MIB // 65536 + 2  # refused as it was passed, not at the end
        assert leftovers(tmp_path) == []


def test_a_client_leaving_mid_upload_leaves_nothing(tmp_path):
    client = Client(body(b"y" * (3 * MIB)), leave_after=30)
    with pytest.raises(asyncio.CancelledError):
        receive(client, tmp_path)
    assert client.taken == 30 and leftovers(tmp_path) == []


def test_a_body_cut_short_or_without_a_file_is_refused_and_leaves_nothing(tmp_path):
    raw = body(b"z" * (2 * MIB))
    with pytest.raises(InvalidRequest, match="closing boundary"):
        receive(Client(raw[:-100]), tmp_path)
    assert leftovers(tmp_path) == []
    only_fields = encode([("purpose", "batch")], [], "b0und")
    with pytest.raises(InvalidRequest, match="file is required"):
        receive(Client(only_fields), tmp_path)


def test_a_refused_file_is_not_written(tmp_path):
    def refuse(fields: dict[str, str], filename: str) -> None:
        assert fields == {"purpose": "batch"} and filename == "in.csv"
        raise InvalidRequest("Must be .jsonl")

    with pytest.raises(InvalidRequest, match="jsonl"):
        receive(Client(body(b"a,b\n", filename="in.csv")), tmp_path, check_file=refuse)
    assert leftovers(tmp_path) == []
