"""Upstream errors scrubbed of the provider's credentials, and of nothing else: an extra
header that is an API's own public word (its version, a beta name) is no secret, so an
upstream that quotes it ("unknown anthropic-version") tells the caller what is wrong."""

from __future__ import annotations

import httpx
import pytest

from gateway.base import http
from gateway.base.entries import ProviderEntry
from gateway.base.errors import UpstreamError
from gateway.base.secrets import provider_credentials
from gateway.base.types import ChatRequest, Message, Text
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange
from tests.gateway import entries

TOKEN = "x-org-token-0123456789"
VERSION = "2026-13-01"  # a version the API does not have, set by the operator
PROVIDER = ProviderEntry(
    5,
    "ant",
    "anthropic",
    "http://ant.test",
    "sk-ant-secret-abcdef",
    {"Anthropic-Version": VERSION, "X-Org-Token": TOKEN, "anthropic-beta": "files-api-2025"},
    "",
    None,
)


def test_an_open_header_is_kept_and_a_credential_header_is_hidden() -> None:
    error = UpstreamError(
        f"anthropic-version: {VERSION!r} is not a valid version (token {TOKEN}, "
        "beta files-api-2025, key sk-ant-secret-abcdef)",
        status=400,
    )
    provider_credentials.scrub(error, PROVIDER)
    assert VERSION in error.message and "files-api-2025" in error.message
    # control: the real credentials still go
    assert TOKEN not in error.message and "sk-ant-secret-abcdef" not in error.message
    assert error.message.count(provider_credentials.SHOWN_AS) == 2


@pytest.fixture
def upstream():
    def quote_the_version(request: httpx.Request) -> httpx.Response:
        version = request.headers["anthropic-version"]
        message = f"anthropic-version: {version!r} is not a valid version"
        return httpx.Response(
            400,
            json={"type": "error", "error": {"type": "invalid_request_error", "message": message}},
        )

    http.use_transport(httpx.MockTransport(quote_the_version))
    yield
    http.use_transport(None)


async def test_the_upstreams_error_names_the_version_it_refused(upstream) -> None:
    deployment = entries.deployment("r", "claude-x", provider=PROVIDER, max_output_tokens=64)
    request = ChatRequest(model="r", messages=[Message("user", [Text("Hi")])], max_tokens=9)
    with pytest.raises(UpstreamError) as raised:
        await AnthropicProvider(PROVIDER).complete(request, deployment, Exchange())
    assert VERSION in raised.value.message
    assert provider_credentials.SHOWN_AS not in raised.value.message
