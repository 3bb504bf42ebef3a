"""More request headers than SWITCHYARD_MAX_HEADERS, or more than
SWITCHYARD_MAX_HEADER_BYTES in all, get a 431: in the caller's dialect on the API
paths, as ``{"detail": ...}`` elsewhere; the request goes no further."""

from __future__ import annotations

import orjson
import pytest

from gateway.edge import endpoints


class Sink:
    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def __call__(self, message: dict) -> None:
        self.messages.append(message)


async def call(path: str, headers: list[tuple[bytes, bytes]], method: str = "POST") -> Sink:
    async def django_app(scope, receive, send) -> None:
        raise AssertionError("the request went further")

    async def receive() -> dict:
        raise AssertionError("the body was read")

    sink = Sink()
    scope = {"type": "http", "method": method, "path": path, "headers": headers}
    await endpoints.GatewayApp(django_app)(scope, receive, sink)
    return sink


MANY = [(f"x-h{n}".encode(), b"v") for n in range(101)]
HUGE = [(b"x-big", b"a" * (32 * 1024))]


@pytest.mark.parametrize("headers", [MANY, HUGE], ids=["many", "huge"])
@pytest.mark.parametrize(
    "path, method, shape",
    [
        ("/v1/chat/completions", "POST", "openai"),
        ("/v1/messages", "POST", "anthropic"),
        ("/v1/models", "GET", "openai"),
        ("/v1/nowhere", "GET", "openai"),
        ("/bedrock/model/m/converse", "POST", "openai"),  # a passthrough path
        ("/api/providers/", "GET", "detail"),
        ("/", "GET", "detail"),
    ],
)
async def test_too_many_or_too_large_headers_get_a_431(headers, path, method, shape) -> None:
    sink = await call(path, headers, method)
    assert sink.messages[0]["status"] == 431
    body = orjson.loads(sink.messages[1]["body"])
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
        assert "request headers" in body["error"]["message"]
    elif shape == "openai":
        assert body["error"]["type"] == "invalid_request_error"
        assert "request headers" in body["error"]["message"]
    else:
        assert "request headers" in body["detail"]


async def test_the_limits_come_from_the_settings(settings) -> None:
    settings.SWITCHYARD_MAX_HEADERS = 200
    settings.SWITCHYARD_MAX_HEADER_BYTES = 64 * 1024
    assert not endpoints.headers_too_large(MANY + HUGE)
    settings.SWITCHYARD_MAX_HEADERS = 100
    assert endpoints.headers_too_large(MANY)
    assert not endpoints.headers_too_large(MANY[:100])


@pytest.mark.parametrize(
    "path, shape",
    [("/v1", "openai"), ("/anthropic", "anthropic"), ("/openai", "openai"), ("/v1beta", "gemini")],
)
async def test_an_api_prefix_without_its_slash_is_a_json_404_in_its_dialect(path, shape) -> None:
    """``/v1/models/..`` reaches the gateway as ``/v1`` (clients remove dot segments):
    an API path, never the console's HTML page (found by the fuzzer)."""
    sink = await call(path, [], "GET")
    assert sink.messages[0]["status"] == 404
    assert (b"content-type", b"application/json") in sink.messages[0]["headers"]
    body = orjson.loads(sink.messages[1]["body"])
    if shape == "anthropic":
        assert body["type"] == "error"
    elif shape == "gemini":
        assert body["error"]["status"] == "NOT_FOUND"
    else:
        assert body["error"]["code"] == "unknown_url"


async def test_an_anthropic_client_gets_anthropics_envelope_on_an_unknown_api_path() -> None:
    sink = await call("/v1", [(b"anthropic-version", b"2023-06-01")], "GET")
    body = orjson.loads(sink.messages[1]["body"])
    assert sink.messages[0]["status"] == 404 and body["type"] == "error"
    assert body["error"]["type"] == "not_found_error"
