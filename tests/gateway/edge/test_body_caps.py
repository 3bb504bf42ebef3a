"""Bodies on the paths Django serves are capped before Django spools them
(gateway.edge.body_caps): by Content-Length before anything is read, and while reading a
body without one."""

from __future__ import annotations

import orjson
import pytest
from django.test import override_settings

from gateway.edge.body_caps import BodyCapApp, body_cap


class Recorder:
    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)
        self.received = 0
        self.sent: list[dict] = []

    async def receive(self) -> dict:
        self.received += 1
        if not self.chunks:
            return {"type": "http.disconnect"}
        body = self.chunks.pop(0)
        return {"type": "http.request", "body": body, "more_body": bool(self.chunks)}

    async def send(self, message: dict) -> None:
        self.sent.append(message)


def scope(path: str, length: int | None) -> dict:
    headers = [(b"host", b"t")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http", "method": "POST", "path": path, "headers": headers}


async def django_like(scope, receive, send) -> None:  # type: ignore[no-untyped-def]
    """Reads the whole body first, as Django's ASGI handler does, then answers."""
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return  # Django: RequestAborted, nothing sent
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


@override_settings(
    SWITCHYARD_MAX_FORM_BODY_BYTES=1000,
    SWITCHYARD_MAX_UPLOAD_BYTES=5000,
    SWITCHYARD_MAX_BODY_BYTES=9000,
)
def test_each_path_family_has_its_cap() -> None:
    assert body_cap("/login/") == 1000
    assert body_cap("/api/providers/") == 1000
    assert body_cap("/admin/login/") == 1000
    assert body_cap("/routes/import/") == 5000
    assert body_cap("/playground/send/") == 9000


@pytest.mark.parametrize("path", ["/login/", "/api/providers/", "/admin/login/"])
@override_settings(SWITCHYARD_MAX_FORM_BODY_BYTES=1000)
async def test_a_declared_length_over_the_cap_gets_413_before_anything_is_read(path: str) -> None:
    client = Recorder([b"x" * 10])
    await BodyCapApp(django_like)(scope(path, 300 * 1024 * 1024), client.receive, client.send)
    assert client.received == 0
    assert client.sent[0]["status"] == 413
    assert (b"connection", b"close") in client.sent[0]["headers"]
    assert "1000 bytes" in orjson.loads(client.sent[1]["body"])["detail"]


@override_settings(SWITCHYARD_MAX_FORM_BODY_BYTES=1000)
async def test_a_body_without_length_is_cut_at_the_cap() -> None:
    client = Recorder([b"x" * 400] * 100)  # 40,000 bytes, chunked
    await BodyCapApp(django_like)(scope("/login/", None), client.receive, client.send)
    assert client.received == 3  # stopped at the chunk that crossed 1000 bytes
    assert [m.get("status") for m in client.sent] == [413, None]  # nothing from the app


@override_settings(SWITCHYARD_MAX_FORM_BODY_BYTES=1000)
async def test_bodies_within_the_cap_pass() -> None:
    for length, chunks in ((1000, [b"x" * 1000]), (None, [b"x" * 500, b"x" * 500])):
        client = Recorder(chunks)
        await BodyCapApp(django_like)(scope("/login/", length), client.receive, client.send)
        assert client.sent[0]["status"] == 200 and client.sent[1]["body"] == b"1000"
