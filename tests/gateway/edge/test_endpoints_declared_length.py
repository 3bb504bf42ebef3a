"""A Content-Length that is no ASCII number (``²``: ``isdigit`` is true of it, ``int``
refuses it) is no declared length: the body is read under the cap as for a chunked
one and answered in the caller's dialect, never a 500."""

from __future__ import annotations

import orjson
import pytest

from tests.gateway.edge.test_endpoints import LIVE, app

__all__ = ["app"]


@pytest.mark.parametrize("declared", ["²".encode("latin-1"), b"1e3", "١".encode()])
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages"])
async def test_a_length_that_is_no_number_is_read_as_undeclared(app, declared, path) -> None:
    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    async def receive() -> dict:
        return {"type": "http.request", "body": b"[1]", "more_body": False}

    headers = [(b"authorization", f"Bearer {LIVE}".encode()), (b"content-length", declared)]
    scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "query_string": b"",
        "headers": headers,
    }
    await app(scope, receive, send)
    assert sent[0]["status"] == 400
    body = orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))
    if path == "/v1/messages":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    else:
        assert body["error"]["type"] == "invalid_request_error"
