"""Structured output and strict tools across dialects: what the OpenAI-compatible
upstream receives (golden bodies through a MockTransport) when LangChain's
``ChatAnthropic.with_structured_output(method="json_schema")`` or pydantic-ai's
``OpenAIResponsesModel`` call through the gateway, and what the caller gets back."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.codecs.anthropic import inbound as anthropic_messages
from gateway.codecs.openai_responses import inbound as openai_responses
from gateway.providers.base import Exchange
from gateway.providers.openai_compatible import OpenAICompatibleProvider
from tests.gateway.providers.test_anthropic import make_deployment, make_provider

PERSON = {
    "type": "object",
    "title": "Person",
    "description": "A person mentioned in the text.",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
ANSWER = '{"name": "Ada", "age": 36}'


@pytest.fixture
def upstream():
    """Records the bodies posted upstream; answers a chat.completion with ANSWER."""
    received: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(orjson.loads(request.content))
        return httpx.Response(
            200,
            json={
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 1,
                "model": "gpt-4.1",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": ANSWER},
                        "finish_reason": "stop",
                    }
                ],
                "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
            },
        )

    http.use_transport(httpx.MockTransport(handler))
    yield received
    http.use_transport(None)


def openai_deployment():
    provider = make_provider(
        kind="openai", base_url="https://llm.example.test/v1", extra_headers={}
    )
    return make_deployment(provider, model="gpt-4.1", supports_reasoning=False)


async def complete(request, deployment):
    adapter = OpenAICompatibleProvider(deployment.provider)
    return await adapter.complete(request, deployment, Exchange())


@pytest.mark.parametrize(
    "structured",
    [
        {"output_config": {"format": {"type": "json_schema", "schema": PERSON}}},
        {"output_format": {"type": "json_schema", "schema": PERSON}},
    ],
)
async def test_anthropic_structured_output_constrains_an_openai_upstream(upstream, structured):
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Ada Lovelace was 36."}],
        **structured,
    }
    request = anthropic_messages.parse_request(
        body, {"anthropic-beta": "structured-outputs-2025-11-13"}
    )
    response = await complete(request, openai_deployment())
    assert upstream == [
        {
            "model": "gpt-4.1",
            "messages": [{"role": "user", "content": "Ada Lovelace was 36."}],
            "max_tokens": 1024,
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "Person", "schema": PERSON, "strict": True},
            },
        }
    ]
    rendered = anthropic_messages.render_response(response, request)
    assert rendered["content"] == [{"type": "text", "text": ANSWER}]
    assert rendered["stop_reason"] == "end_turn"


async def test_responses_strict_tools_and_format_reach_chat_completions(upstream):
    schema = {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    }
    body = {
        "model": "agent",
        "input": "Weather in Oslo?",
        "tools": [
            {"type": "function", "name": "weather", "parameters": schema},  # strict by default
            {"type": "function", "name": "loose", "parameters": schema, "strict": False},
        ],
        "text": {
            "format": {"type": "json_schema", "name": "final", "schema": PERSON, "strict": True}
        },
    }
    request = openai_responses.parse_request(body, {})
    await complete(request, openai_deployment())
    sent = upstream[0]
    assert sent["tools"] == [
        {"type": "function", "function": {"name": "weather", "parameters": schema, "strict": True}},
        {"type": "function", "function": {"name": "loose", "parameters": schema, "strict": False}},
    ]
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "final", "schema": PERSON, "strict": True},
    }


async def test_a_schema_with_optional_fields_goes_without_strict(upstream):
    """Anthropic enforces schemas with optional properties; OpenAI's strict mode refuses
    them (every property must be required), so such a schema goes as a plain one."""
    optional = {**PERSON, "properties": {**PERSON["properties"], "nickname": {"type": "string"}}}
    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": "Ada Lovelace was 36."}],
        "output_config": {"format": {"type": "json_schema", "schema": optional}},
    }
    request = anthropic_messages.parse_request(body, {})
    await complete(request, openai_deployment())
    assert upstream[0]["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Person", "schema": optional, "strict": False},
    }
