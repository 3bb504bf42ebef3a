"""Which adapters forward a same-format body untouched: those whose codec can journal
and end a passed-through exchange (``PassthroughCodec``), and the first-layout adapters
that implement passthrough themselves. The service asks ``passes_through`` per request,
so it is decided once per class."""

from __future__ import annotations

import httpx
import pytest

from gateway.base import http
from gateway.base.types import ChatRequest, Message, Text
from gateway.codecs.base import PassthroughCodec
from gateway.providers.anthropic import AnthropicProvider
from gateway.providers.base import Exchange, Provider
from gateway.providers.bedrock import BedrockProvider
from gateway.providers.codec_provider import CodecProvider
from gateway.providers.cohere import CohereProvider
from gateway.providers.echo import EchoProvider
from gateway.providers.gemini import GeminiProvider
from gateway.providers.openai_compatible import AzureOpenAIProvider, OpenAICompatibleProvider
from gateway.providers.openai_responses import OpenAIResponsesProvider
from gateway.providers.vertex_ai import VertexAIProvider
from tests.gateway.providers.test_anthropic import (
    make_deployment,
    make_provider,
    sse_response,
    transcript,
)


@pytest.mark.parametrize(
    ("adapter", "expected"),
    [
        (AnthropicProvider, True),
        (OpenAICompatibleProvider, True),
        (AzureOpenAIProvider, True),
        (GeminiProvider, False),
        (VertexAIProvider, False),
        (BedrockProvider, False),
        (CohereProvider, False),
        (OpenAIResponsesProvider, False),
    ],
)
def test_which_adapters_pass_bodies_through(adapter, expected):
    assert adapter.passes_through is expected


def test_a_codec_adapter_passes_through_exactly_when_its_codec_can():
    assert isinstance(AnthropicProvider.codec, PassthroughCodec)
    assert isinstance(OpenAICompatibleProvider.codec, PassthroughCodec)
    assert issubclass(AzureOpenAIProvider, CodecProvider)
    assert not isinstance(GeminiProvider.codec, PassthroughCodec)


def test_an_adapter_without_passthrough_says_so():
    class Plain(Provider):
        kind = "plain-test"

    assert Plain.passes_through is False
    assert EchoProvider.passes_through is False  # declared, not probed
    assert Provider.passes_through is False and Provider.counts_tokens is False


async def test_the_stream_variant_follows_the_call_not_the_request_flag():
    """A request object not marked ``stream`` still gets a streamed body when the shared
    path is asked to stream (the Messages API streams only if the body says so)."""
    sent: list[bytes] = []

    def reply(request: httpx.Request) -> httpx.Response:
        sent.append(request.content)
        return sse_response(transcript("text"))

    http.use_transport(httpx.MockTransport(reply))
    try:
        request = ChatRequest(model="claude", messages=[Message("user", [Text("hi")])])
        adapter = AnthropicProvider(make_provider())
        events = [e async for e in adapter.stream(request, make_deployment(), Exchange())]
    finally:
        http.use_transport(None)
    assert b'"stream":true' in sent[0] and events
    assert request.stream is False  # the caller's object is left as it was
