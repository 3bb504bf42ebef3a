"""Prompt-cache breakpoints across translation, per upstream codec: golden bodies from
the caller's wire format to the upstream's (Anthropic ``cache_control``, Bedrock
``cachePoint``, OpenAI ``prompt_cache_key``/``prompt_cache_retention``, Gemini
``cachedContent``), with the breakpoints the gateway places (``gateway.core.prompt_cache``)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway import codecs
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest
from gateway.codecs.anthropic import codec as anthropic_codec
from gateway.codecs.base import Target
from gateway.codecs.bedrock import codec as bedrock_codec
from gateway.codecs.gemini import codec as gemini_codec
from gateway.codecs.openai_chat import codec as chat_codec
from gateway.codecs.openai_responses import CODEC as _responses
from gateway.core import prompt_cache, tokens

responses_codec = _responses.upstream
CLAUDE = Target(model="claude-sonnet-4-5", max_output_tokens=8192)
BEDROCK_CLAUDE = Target(
    model="us.anthropic.claude-sonnet-4-5-20250929-v1:0", max_output_tokens=8192
)
BEDROCK_LLAMA = Target(model="meta.llama3-70b-instruct-v1:0")
LONG = "You are a coding agent. Follow the repository rules. " * 200  # ~2,600 tokens
SCHEMA = {"type": "object", "properties": {"path": {"type": "string"}}}
EPHEMERAL = {"type": "ephemeral"}
HOUR = {"type": "ephemeral", "ttl": "1h"}
POINT = {"cachePoint": {"type": "default"}}


def parse(dialect: str, body: dict[str, Any]) -> ChatRequest:
    return codecs.client(dialect).parse_request(body, {})


def upstream(request: ChatRequest, dialect: str, *, auto: bool = True) -> ChatRequest:
    """What the service renders: the request after breakpoint planning."""
    planned, _plan = prompt_cache.for_upstream(
        request, dialect, auto=auto, estimate=tokens.estimate_tokens(request)
    )
    return planned


def anthropic_body(**extra: Any) -> dict[str, Any]:
    """A Claude Code-shaped turn: tools, system blocks, and a conversation, with the
    breakpoints the client placed."""
    return {
        "model": "claude",
        "max_tokens": 1024,
        "tools": [
            {"name": "Read", "input_schema": SCHEMA},
            {"name": "Edit", "input_schema": SCHEMA, "cache_control": EPHEMERAL},
        ],
        "system": [
            {"type": "text", "text": "You are Claude Code."},
            {"type": "text", "text": LONG, "cache_control": HOUR},
        ],
        "messages": [
            {"role": "user", "content": "read a.py"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "Read", "input": {"path": "a.py"}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": "print(1)",
                        "cache_control": EPHEMERAL,
                    },
                    {"type": "text", "text": "now fix it"},
                ],
            },
        ],
        **extra,
    }


# --- Anthropic in ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_in_bedrock_out_cache_points_where_the_client_put_them(stream: bool) -> None:
    request = upstream(parse("anthropic", anthropic_body(stream=stream)), "bedrock")
    body = bedrock_codec.build_request(request, BEDROCK_CLAUDE)
    assert body["toolConfig"]["tools"] == [
        {"toolSpec": {"name": "Read", "inputSchema": {"json": SCHEMA}}},
        {"toolSpec": {"name": "Edit", "inputSchema": {"json": SCHEMA}}},
        POINT,
    ]
    assert body["system"] == [
        {"text": "You are Claude Code."},
        {"text": LONG},
        {"cachePoint": {"type": "default", "ttl": "1h"}},
    ]
    assert body["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "t1", "content": [{"text": "print(1)"}]}},
        POINT,
        {"text": "now fix it"},
    ]
    assert "stream" not in body  # ConverseStream takes the same body


def test_bedrock_models_without_prompt_caching_get_no_cache_points() -> None:
    request = upstream(parse("anthropic", anthropic_body()), "bedrock")
    body = bedrock_codec.build_request(request, BEDROCK_LLAMA)
    assert "cachePoint" not in str(body)


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_in_anthropic_out_keeps_cache_control_in_place(stream: bool) -> None:
    """The translated path (the passthrough path sends the body untouched)."""
    request = upstream(parse("anthropic", anthropic_body(stream=stream)), "anthropic")
    body = anthropic_codec.build_request(request, CLAUDE)
    assert [t.get("cache_control") for t in body["tools"]] == [None, EPHEMERAL]
    assert [b.get("cache_control") for b in body["system"]] == [None, HOUR]
    assert body["messages"][2]["content"][0]["cache_control"] == EPHEMERAL
    assert "cache_control" not in body["messages"][2]["content"][1]
    assert body.get("stream", False) is stream


def test_invalid_cache_control_is_refused_as_anthropic_names_it() -> None:
    body = anthropic_body()
    body["system"][1]["cache_control"] = {"type": "ephemeral", "ttl": "2h"}
    with pytest.raises(InvalidRequest) as caught:
        parse("anthropic", body)
    assert caught.value.param == "system.1.cache_control.ttl"


def test_client_breakpoints_win_over_automatic_ones() -> None:
    """An Anthropic client that marked only its system prompt gets only that."""
    body = anthropic_body()
    del body["tools"][1]["cache_control"]
    del body["messages"][2]["content"][0]["cache_control"]
    request, plan = prompt_cache.for_upstream(
        parse("anthropic", body), "anthropic", auto=True, estimate=5000
    )
    sent = anthropic_codec.build_request(request, CLAUDE)
    assert str(sent).count("cache_control") == 1
    assert plan.describe() == "client: system (1h)"


def test_an_anthropic_client_that_marks_nothing_gets_no_breakpoints() -> None:
    body = anthropic_body()
    del body["tools"][1]["cache_control"]
    del body["system"][1]["cache_control"]
    del body["messages"][2]["content"][0]["cache_control"]
    request, plan = prompt_cache.for_upstream(
        parse("anthropic", body), "bedrock", auto=True, estimate=5000
    )
    assert "cachePoint" not in str(bedrock_codec.build_request(request, BEDROCK_CLAUDE))
    assert plan.describe() == ""


def test_more_than_four_breakpoints_keep_the_last_four() -> None:
    body = anthropic_body()
    body["tools"][0]["cache_control"] = EPHEMERAL
    body["messages"][0]["content"] = [
        {"type": "text", "text": "read a.py", "cache_control": EPHEMERAL}
    ]
    parsed = parse("anthropic", body)  # 5 breakpoints: tools x2, system, messages x2
    request, plan = prompt_cache.for_upstream(parsed, "anthropic", auto=True, estimate=5000)
    sent = anthropic_codec.build_request(request, CLAUDE)
    assert [t.get("cache_control") for t in sent["tools"]] == [None, EPHEMERAL]  # first dropped
    assert str(sent).count("cache_control") == 4
    assert plan.sent == ("tools", "system (1h)", "messages[0]", "messages[2]")
    assert plan.dropped == ("tools",)
    assert "over the limit of 4, not sent: tools" in plan.describe()
    assert parsed.tools[0].cache == "5m"  # the parsed request is left as it was
    bedrock = bedrock_codec.build_request(
        prompt_cache.for_upstream(parsed, "bedrock", auto=True, estimate=5000)[0], BEDROCK_CLAUDE
    )
    assert str(bedrock).count("cachePoint") == 4


# --- automatic breakpoints (clients that cannot mark) --------------------------------------


def chat_body(**extra: Any) -> dict[str, Any]:
    return {
        "model": "m",
        "tools": [{"type": "function", "function": {"name": "read", "parameters": SCHEMA}}],
        "messages": [
            {"role": "system", "content": LONG},
            {"role": "user", "content": "read a.py"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {"name": "read", "arguments": '{"path": "a.py"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "print(1)"},
        ],
        **extra,
    }


@pytest.mark.parametrize("stream", [False, True])
def test_openai_chat_in_anthropic_out_gets_automatic_breakpoints(stream: bool) -> None:
    parsed = parse("openai", chat_body(stream=stream))
    request, plan = prompt_cache.for_upstream(
        parsed, "anthropic", auto=True, estimate=tokens.estimate_tokens(parsed)
    )
    body = anthropic_codec.build_request(request, CLAUDE)
    assert body["tools"][0]["cache_control"] == EPHEMERAL  # after the tools
    assert body["system"] == [{"type": "text", "text": LONG, "cache_control": EPHEMERAL}]
    # the last stable turn: the assistant's tool call before the newest tool result
    assert body["messages"][1]["content"][0]["cache_control"] == EPHEMERAL
    assert "cache_control" not in body["messages"][2]["content"][0]
    assert plan.describe() == "auto: tools, system, messages[1]"  # system not counted
    assert body.get("stream", False) is stream


@pytest.mark.parametrize("stream", [False, True])
def test_responses_in_bedrock_out_gets_automatic_cache_points(stream: bool) -> None:
    body = {
        "model": "m",
        "instructions": LONG,
        "tools": [{"type": "function", "name": "read", "parameters": SCHEMA}],
        "input": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": [{"type": "output_text", "text": "hello"}]},
            {"role": "user", "content": "read a.py"},
        ],
        "stream": stream,
    }
    request = upstream(parse("responses", body), "bedrock")
    sent = bedrock_codec.build_request(request, BEDROCK_CLAUDE)
    assert sent["toolConfig"]["tools"][-1] == POINT
    assert sent["system"] == [{"text": LONG}, POINT]
    assert sent["messages"][1] == {"role": "assistant", "content": [{"text": "hello"}, POINT]}
    assert sent["messages"][2] == {"role": "user", "content": [{"text": "read a.py"}]}


def test_gemini_in_anthropic_out_gets_automatic_breakpoints() -> None:
    body = {
        "model": "m",
        "systemInstruction": {"parts": [{"text": LONG}]},
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
    }
    sent = anthropic_codec.build_request(upstream(parse("gemini", body), "anthropic"), CLAUDE)
    assert sent["system"][0]["cache_control"] == EPHEMERAL
    assert "cache_control" not in str(sent["messages"])  # one turn: nothing stable yet


def test_route_setting_off_places_no_breakpoints() -> None:
    parsed = parse("openai", chat_body())
    request, plan = prompt_cache.for_upstream(parsed, "anthropic", auto=False, estimate=5000)
    assert request is parsed and plan.describe() == ""
    assert "cache_control" not in str(anthropic_codec.build_request(request, CLAUDE))


def test_tiny_requests_stay_unchanged() -> None:
    parsed = parse("openai", {"model": "m", "messages": [{"role": "system", "content": "Be brief."},
                                                         {"role": "user", "content": "hi"}]})  # fmt: skip
    request, plan = prompt_cache.for_upstream(
        parsed, "bedrock", auto=True, estimate=tokens.estimate_tokens(parsed)
    )
    assert request is parsed and plan.describe() == ""


def test_upstreams_that_cache_on_their_own_get_no_marks() -> None:
    parsed = parse("openai", chat_body())
    for dialect in ("openai", "responses", "gemini"):
        request, plan = prompt_cache.for_upstream(parsed, dialect, auto=True, estimate=5000)
        assert request is parsed and plan.describe() == ""


# --- OpenAI's prompt-cache fields and Gemini's cached content ------------------------------


def test_prompt_cache_key_and_retention_cross_between_chat_and_responses() -> None:
    chat = parse("openai", chat_body(prompt_cache_key="session-7", prompt_cache_retention="24h"))
    sent = responses_codec.build_request(chat, Target(model="gpt-5"))
    assert (sent["prompt_cache_key"], sent["prompt_cache_retention"]) == ("session-7", "24h")
    assert chat.unmapped == []  # nothing to drop or refuse on other upstreams
    responses = parse(
        "responses",
        {
            "model": "m",
            "input": "hi",
            "prompt_cache_key": "k",
            "prompt_cache_retention": "in-memory",
        },
    )
    sent = chat_codec.build_request(responses, Target(model="gpt-4.1", host="api.openai.com"))
    assert (sent["prompt_cache_key"], sent["prompt_cache_retention"]) == ("k", "in_memory")


def test_bad_prompt_cache_retention_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse("openai", chat_body(prompt_cache_retention="forever"))
    assert caught.value.param == "prompt_cache_retention"


def test_gemini_cached_content_reaches_a_gemini_upstream() -> None:
    body = {
        "model": "m",
        "cachedContent": "cachedContents/abc123",
        "contents": [{"role": "user", "parts": [{"text": "hi"}]}],
    }
    sent = gemini_codec.build_request(parse("gemini", body), Target(model="gemini-2.5-flash"))
    assert sent["cachedContent"] == "cachedContents/abc123"


def test_anthropic_breakpoints_become_a_prompt_cache_key_for_openai() -> None:
    """OpenAI caches on its own but routes by ``prompt_cache_key``: an Anthropic client
    that asked for caching gets a key derived from its system prompt and tools, the same
    on every turn, sent only to hosts known to take it."""
    first = parse("anthropic", anthropic_body())
    later = parse("anthropic", anthropic_body(messages=[{"role": "user", "content": "hi"}]))
    openai_host = Target(model="gpt-4.1", host="api.openai.com")
    key = chat_codec.build_request(first, openai_host)["prompt_cache_key"]
    assert key.startswith("sy-") and len(key) == 35
    assert chat_codec.build_request(later, openai_host)["prompt_cache_key"] == key
    assert responses_codec.build_request(first, Target(model="gpt-5"))["prompt_cache_key"] == key
    other = dict(anthropic_body(), system="Another agent.")
    assert chat_codec.build_request(parse("anthropic", other), openai_host).get(
        "prompt_cache_key"
    ) not in (None, key)
    groq = Target(model="llama", host="api.groq.com")  # might refuse an unknown field
    assert "prompt_cache_key" not in chat_codec.build_request(first, groq)
    unmarked = anthropic_body()
    del unmarked["tools"][1]["cache_control"]
    del unmarked["system"][1]["cache_control"]
    del unmarked["messages"][2]["content"][0]["cache_control"]
    assert "prompt_cache_key" not in chat_codec.build_request(
        parse("anthropic", unmarked), openai_host
    )


def test_a_passed_through_body_is_logged_with_the_clients_breakpoints() -> None:
    assert prompt_cache.passed_through(parse("anthropic", anthropic_body())) == (
        "client: tools.1, system.1, messages.2.content.0"
    )
    assert prompt_cache.passed_through(parse("openai", chat_body())) == ""


def test_a_codex_key_reaches_strict_third_party_chat_servers_only_when_they_take_it() -> None:
    """Codex sends prompt_cache_key on every Responses request; translated to Chat
    Completions it goes to OpenAI and Azure OpenAI, not to a server that may refuse
    unknown fields (Mistral), where leaving it out costs nothing."""
    responses = parse("responses", {"model": "m", "input": "hi", "prompt_cache_key": "codex-1"})
    azure = Target(model="gpt-4.1", host="acme.openai.azure.com")
    assert chat_codec.build_request(responses, azure)["prompt_cache_key"] == "codex-1"
    mistral = Target(model="mistral-large", host="api.mistral.ai")
    assert "prompt_cache_key" not in chat_codec.build_request(responses, mistral)
    chat = parse("openai", chat_body(prompt_cache_key="mine"))  # the client's own choice
    assert chat_codec.build_request(chat, mistral)["prompt_cache_key"] == "mine"
