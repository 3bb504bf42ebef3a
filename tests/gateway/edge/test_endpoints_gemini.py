"""Which requests the endpoints treat as Gemini API calls: method paths under /v1beta/
and /v1/ (model from the URL, ``models/`` stripped, a route name's ``/`` kept), keys
sent the Google way, and the /v1/models listing that is Gemini's only for a Google key."""

from __future__ import annotations

import orjson
import pytest

from gateway.edge import endpoints
from gateway.edge.endpoints import gemini_method, google_key, is_gemini_listing, query_key


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1beta/models/gem:generateContent", ("chat", "gem", False)),
        ("/v1beta/models/gem:streamGenerateContent", ("chat", "gem", True)),
        ("/v1beta/models/gem:countTokens", ("count_tokens", "gem", False)),
        ("/v1/models/gem:generateContent", ("chat", "gem", False)),
        ("/v1beta/models/models/gem:generateContent", ("chat", "gem", False)),
        ("/v1beta/models/gemini/flash:generateContent", ("chat", "gemini/flash", False)),
        ("/v1beta/models/ns:tag:generateContent", ("chat", "ns:tag", False)),
        ("/v1beta/models/gem:embedContent", None),
        ("/v1beta/models/:generateContent", None),
        ("/v1beta/models/gem", None),
        ("/v1/chat/completions", None),
        ("/v1/models", None),
    ],
)
def test_gemini_method_paths(path: str, expected: tuple[str, str, bool] | None) -> None:
    assert gemini_method(path) == expected


def scope(path: str, query: bytes = b"") -> dict:
    return {"path": path, "query_string": query}


def test_google_keys_header_first_then_query() -> None:
    assert google_key(scope("/x", b"alt=sse&key=sy-q"), {}) == "sy-q"
    assert google_key(scope("/x", b"key=sy-q"), {"x-goog-api-key": " sy-h "}) == "sy-h"
    assert google_key(scope("/x", b"alt=sse&monkey=1"), {}) == ""
    assert query_key(scope("/x", b"key=a%2Bb")) == "a+b"


@pytest.mark.parametrize(
    ("path", "query", "headers", "gemini"),
    [
        ("/v1beta/models", b"", {}, True),
        ("/v1beta/models/gem", b"", {}, True),
        ("/v1/models", b"", {"authorization": "Bearer sy"}, False),
        ("/v1/models", b"key=sy", {}, True),
        ("/v1/models/gem", b"", {"x-goog-api-key": "sy"}, True),
        ("/v1/models", b"", {"x-goog-api-key": "sy"}, True),
        ("/v1beta/modelsx", b"", {}, False),
    ],
)
def test_gemini_listing(path: str, query: bytes, headers: dict, gemini: bool) -> None:
    assert is_gemini_listing(scope(path, query), headers) is gemini


class Sink:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def __call__(self, message: dict) -> None:
        self.messages.append(message)


async def call(path: str, headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict:
    """Status and JSON body of a request the endpoints answer without reading a body."""

    async def django_app(scope, receive, send) -> None:
        raise AssertionError("the request went to Django")

    async def receive() -> dict:
        raise AssertionError("the body was read")

    sink = Sink()
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await endpoints.GatewayApp(django_app)(scope, receive, sink)
    return {"status": sink.messages[0]["status"], "body": orjson.loads(sink.messages[1]["body"])}


@pytest.mark.parametrize(
    "path", ["/v1beta/models/gem:generateContent", "/v1/models/gem:streamGenerateContent"]
)
async def test_too_many_headers_get_googles_envelope(path: str) -> None:
    many = [(f"x-h{n}".encode(), b"v") for n in range(101)]
    reply = await call(path, many)
    assert reply["status"] == 431
    error = reply["body"]["error"]
    assert error["code"] == 431 and error["status"] == "INVALID_ARGUMENT"
    assert "request headers" in error["message"]


@pytest.mark.parametrize(
    ("path", "method"),
    [("/v1beta/models/gem:embedContent", "POST"), ("/v1beta/files", "GET")],
)
async def test_unknown_gemini_paths_are_not_found_in_googles_envelope(
    path: str, method: str
) -> None:
    reply = await call(path, [], method)
    assert reply["status"] == 404
    assert reply["body"]["error"]["status"] == "NOT_FOUND"
    assert path in reply["body"]["error"]["message"]


def test_a_gemini_stream_cut_by_shutdown_ends_with_an_error_event() -> None:
    tail = endpoints.shutdown_stream_tail("gemini")
    assert tail.startswith(b"data: ") and tail.endswith(b"\n\n")
    error = orjson.loads(tail[6:])["error"]
    assert error["code"] == 503 and error["status"] == "UNAVAILABLE"
    assert b"[DONE]" not in tail
