"""Where a passthrough request may go: the prefixes, the path checks (nothing can name a
URL outside the provider's API root), the query and the headers that go along."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import unquote

import pytest

from gateway.base.errors import InvalidRequest
from gateway.features.passthrough import paths
from gateway.server.asgi import application
from tests.gateway.features.passthrough.conftest import BETA_SECRET, KEYS, Gateway


@pytest.mark.parametrize(
    ("path", "prefix"),
    [
        ("/openai/v1/models", "openai"),
        ("/openai_passthrough/v1/responses", "openai"),
        ("/anthropic/v1/skills", "anthropic"),
        ("/gemini/v1beta/models", "gemini"),
        ("/vertex_ai/v1/projects/p", "vertex_ai"),
        ("/bedrock/model/x/converse", "bedrock"),
        ("/azure/openai/deployments/d/chat/completions", "azure"),
        ("/mistral/v1/ocr", "mistral"),
        ("/cohere/v2/embed", "cohere"),
        ("/together_ai/v1/models", "together_ai"),
        ("/openai", None),  # the prefix alone names no path
        ("/google/v1beta/models", None),  # an alias: the prefix is LiteLLM's first spelling
        ("/v1/models", None),
        ("/providers/", None),  # the console's
    ],
)
def test_a_path_names_a_vendor_by_its_litellm_spelling(path: str, prefix: str | None) -> None:
    assert paths.prefix_of(path) == prefix


ALLOWED = [
    "/",
    "/v1/models/gpt-4o",
    "/v1beta/models/gemini-2.5-flash:streamGenerateContent",
    # a Bedrock ARN: its ':' and '/' encoded inside one segment, as boto3 sends them
    "/model/arn%3Aaws%3Abedrock%3Aus-east-1%3A1%3Ainference-profile%2Fus.nova/converse",
    # Vertex AI's model@version
    "/v1/projects/p/locations/l/publishers/anthropic/models/claude-sonnet-4@20250514:rawPredict",
]
REFUSED = {
    "v1/models": "does not start with /",
    "/v1/../admin": ". or .. segment",
    "/v1/%2e%2e/admin": ". or .. segment",
    "/v1/..%2Fadmin": ". or .. segment",  # an encoded slash is a slash to many servers
    "/v1/%2E%2E%2F%2E%2E%2Fadmin": ". or .. segment",
    "/v1/./models": ". or .. segment",
    "/v1//models": "empty segment",
    "//evil.example/v1": "empty segment",
    "/https://evil.example/v1": "absolute URL",
    "/http:%2F%2Fevil.example": "absolute URL",
    "/v1/%252e%252e/admin": "encoded twice",
    "/@evil.example/v1": "holds an @",
    "/v1/user@evil.example": "holds an @",
    "/v1/a%5c..%5cadmin": "backslash",
    "/v1/a%00b": "control character",
    "/v1/a b": "a character a path may not",
    "/v1/a%zz": "a character a path may not",
    "/v1/a\\b": "a character a path may not",
}


@pytest.mark.parametrize("path", ALLOWED)
def test_a_path_under_the_api_root_is_taken_as_it_came(path: str) -> None:
    assert paths.checked(path) == path
    assert paths.url("https://api.example/team", path, "") == "https://api.example/team" + path


@pytest.mark.parametrize(("path", "why"), sorted(REFUSED.items()))
def test_a_path_that_could_escape_the_root_is_refused(path: str, why: str) -> None:
    with pytest.raises(InvalidRequest, match="the passthrough path is refused") as refused:
        paths.checked(path)
    assert why in refused.value.message and refused.value.code == "invalid_path"


def test_the_url_made_is_checked_once_more_to_stay_under_the_root() -> None:
    assert paths.url("https://api.example", "/v1/x", "a=1") == "https://api.example/v1/x?a=1"
    for sneaky in ("@evil.example/x", "/x#frag"):  # (what checked() refuses before)
        with pytest.raises(InvalidRequest):
            paths.url("https://api.example", sneaky, "")


def test_paths_under_a_prefix() -> None:
    allowed = ("/v1/models", "/v1/files/")
    assert paths.under("/v1/models", allowed) and paths.under("/v1/models/x", allowed)
    assert paths.under("/v1/files/f1/content", allowed)
    assert not paths.under("/v1/modelsx", allowed) and not paths.under("/v1/chat", allowed)


def scope(raw_path: bytes, query: bytes = b"", path: str | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "method": "GET",
        "path": path if path is not None else raw_path.decode(),
        "raw_path": raw_path,
        "query_string": query,
    }


def test_the_target_keeps_the_path_as_encoded_and_the_query_but_keys() -> None:
    raw = b"/bedrock/model/arn%3Aaws%3Abedrock%3A1%2Fnova/converse"
    made = paths.target(
        scope(raw, b"key=sy-secret&a=1&b=%20x&switchyard_provider=p2"), "bedrock", {}
    )
    assert made.path == "/model/arn%3Aaws%3Abedrock%3A1%2Fnova/converse"
    assert made.query == "a=1&b=%20x" and made.provider == "p2"
    # the header names the provider over the query; an encoded prefix names no path
    named = paths.target(
        scope(b"/openai/v1/x", b"switchyard_provider=q"), "openai", {"x-switchyard-provider": "h"}
    )
    assert named.provider == "h"
    encoded = paths.target(scope(b"/open%61i/v1/x", path="/openai/v1/x"), "openai", {})
    assert encoded.path is None
    with pytest.raises(InvalidRequest, match="percent-encoded"):
        paths.checked(encoded.path)


def test_the_callers_credentials_and_the_gateways_headers_stay_behind() -> None:
    sent = paths.forwarded(
        {
            "authorization": "Bearer sy-virtual",
            "x-api-key": "sy-virtual",
            "api-key": "sy-virtual",
            "x-goog-api-key": "sy-virtual",
            "cookie": "sessionid=1",
            "openai-organization": "org-other",
            "x-amz-security-token": "t",
            "x-switchyard-tags": "a",
            "x-switchyard-provider": "p",
            "connection": "keep-alive",
            "host": "gw",
            "x-forwarded-for": "10.0.0.1",
            "accept-encoding": "gzip",
            "content-length": "9",
            "anthropic-beta": "skills-2025-10-02",
            "openai-beta": "assistants=v2",
            "user-agent": "sdk/1",
            "content-type": "application/json",
        }
    )
    assert sent == {
        "anthropic-beta": "skills-2025-10-02",
        "openai-beta": "assistants=v2",
        "user-agent": "sdk/1",
        "content-type": "application/json",
        "accept-encoding": "identity",
    }


def test_a_header_the_provider_sets_is_the_providers() -> None:
    sent = paths.forwarded({"x-tenant": "caller's", "openai-beta": "x"}, ["X-Tenant"])
    assert sent == {"openai-beta": "x", "accept-encoding": "identity"}


def test_the_answers_headers_come_back_but_hop_by_hop_ones_and_the_gateways() -> None:
    ours = [(b"x-request-id", b"gw-1"), (b"content-type", b"application/json")]
    answer = [
        (b"Content-Type", b"text/plain"),
        (b"X-Request-Id", b"up-1"),
        (b"openai-processing-ms", b"12"),
        (b"Transfer-Encoding", b"chunked"),
        (b"Content-Encoding", b"gzip"),
        (b"Set-Cookie", b"a=b"),
        (b"x-switchyard-route", b"forged"),
        (b"retry-after", b"3"),
    ]
    assert paths.returned(answer, ours) == [
        (b"openai-processing-ms", b"12"),
        (b"retry-after", b"3"),
    ]


# --- through the app: refused before anything is sent ---------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"/openai/v1/%2e%2e/%2e%2e/admin", b"/openai/v1/..%2F..%2Fadmin", b"/openai/@evil.example/v1",
     b"/openai/v1//x", b"/openai/https://evil.example/x", b"/openai/v1/%252e%252e/x"],
)  # fmt: skip
async def test_an_escape_attempt_is_refused_and_nothing_is_sent(gw: Gateway, raw: bytes) -> None:
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    request = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": unquote(raw.decode()), "raw_path": raw, "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("gw", 80), "extensions": {},
        "headers": [(b"host", b"gw"), (b"authorization", f"Bearer {KEYS['beta']}".encode())],
    }  # fmt: skip
    await asyncio.wait_for(application(request, receive, send), 10)
    assert messages[0]["status"] == 400, messages
    assert b"the passthrough path is refused" in messages[1]["body"]
    assert gw.vendor.seen == []
    assert BETA_SECRET.encode() not in messages[1]["body"]
