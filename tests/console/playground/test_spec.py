"""Playground building blocks: validating a run, request bodies in both dialects,
reading both dialects' SSE back (split anywhere), and the word diff."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.playground import spec as specs
from console.playground.stream import TranscriptReader, error_message
from gateway.codecs.anthropic.outbound import DEFAULT_MAX_TOKENS as ANTHROPIC_DEFAULT_MAX_TOKENS
from gateway.codecs.anthropic.outbound import EFFORT_BUDGETS

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def run_request(**overrides) -> dict:
    return {
        "messages": [{"role": "user", "content": "hi"}],
        "columns": [{"route": "a"}, {"route": "b", "dialect": "anthropic"}],
        **overrides,
    }


def test_a_valid_run_request_parses_with_per_column_params_over_shared() -> None:
    spec = specs.parse_spec(
        run_request(
            params={"temperature": "0.5", "max_tokens": "100"},
            columns=[
                {"route": "a", "params": {"temperature": 1.2, "reasoning_effort": "high"}},
                {"route": "a", "dialect": "anthropic"},
            ],
        )
    )
    first = spec.columns[0].params.over(spec.params)
    second = spec.columns[1].params.over(spec.params)
    assert (first.temperature, first.max_tokens, first.reasoning_effort) == (1.2, 100, "high")
    assert (second.temperature, second.max_tokens, second.reasoning_effort) == (0.5, 100, None)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"columns": [{"route": "a"}]}, "pick 2 to 6 columns"),
        ({"columns": [{"route": "a"}] * 7}, "pick 2 to 6 columns"),
        ({"columns": [{"route": "a"}, {"route": ""}]}, "column 2: choose a route"),
        ({"columns": [{"route": "a"}, {"route": "b", "dialect": "x"}]}, "column 2: dialect"),
        ({"messages": [{"role": "user", "content": " "}]}, "write a prompt"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "write a prompt"),
        ({"params": {"temperature": 3}}, "temperature must be between 0 and 2"),
        ({"params": {"max_tokens": "many"}}, "max tokens must be a whole number"),
        ({"params": {"reasoning_effort": "huge"}}, "reasoning effort must be one of"),
        ({"tools": [{"description": "no name"}]}, "tools[0] needs a name"),
    ],
)
def test_invalid_run_requests_say_what_is_wrong(overrides: dict, message: str) -> None:
    with pytest.raises(specs.SpecError, match=message.replace("[", r"\[").replace("]", r"\]")):
        specs.parse_spec(run_request(**overrides))


def test_unknown_routes_are_refused() -> None:
    with pytest.raises(specs.SpecError, match="column 2: unknown route 'b'"):
        specs.parse_spec(run_request(), route_exists=lambda name: name == "a")


def test_tools_in_either_dialects_form_are_normalised() -> None:
    schema = {"type": "object", "properties": {"city": {"type": "string"}}}
    openai = {
        "type": "function",
        "function": {"name": "wx", "description": "d", "parameters": schema},
    }
    anthropic = {"name": "wx", "description": "d", "input_schema": schema}
    assert specs.parse_tools([openai]) == specs.parse_tools([anthropic])
    assert specs.parse_tools([anthropic]) == [
        {"name": "wx", "description": "d", "parameters": schema}
    ]


def test_openai_body_streams_with_usage_and_maps_every_param() -> None:
    tools = specs.parse_tools([{"name": "wx", "parameters": {"type": "object"}}])
    params = specs.Params(temperature=0.2, max_tokens=50, reasoning_effort="low")
    body = specs.build_body("openai", "r", "sys", [{"role": "user", "content": "q"}], params, tools)
    assert body == {
        "model": "r",
        "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "q"}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "max_tokens": 50,
        "reasoning_effort": "low",
        "tools": [
            {"type": "function", "function": {"name": "wx", "parameters": {"type": "object"}}}
        ],
    }


def test_anthropic_body_turns_effort_into_a_thinking_budget() -> None:
    history = [{"role": "user", "content": "q"}]
    plain = specs.build_body("anthropic", "r", "", history, specs.Params(temperature=1.5), [])
    assert plain == {
        "model": "r",
        "max_tokens": ANTHROPIC_DEFAULT_MAX_TOKENS,
        "stream": True,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "q"}]}],
        "temperature": 1.0,  # Anthropic's range ends at 1
    }
    thinking = specs.build_body(
        "anthropic",
        "r",
        "sys",
        history,
        specs.Params(temperature=0.5, max_tokens=100, reasoning_effort="medium"),
        [],
    )
    # The Anthropic codec's own effort table: what any Anthropic upstream gets too.
    budget = EFFORT_BUDGETS["medium"]
    assert thinking["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert thinking["max_tokens"] > budget and "temperature" not in thinking
    assert thinking["system"] == [{"type": "text", "text": "sys"}]


def test_each_column_continues_its_own_conversation() -> None:
    opening = [{"role": "user", "content": "q1"}]
    results = [[{"text": "a1"}, {"text": "", "tool_calls": [{"name": "wx", "arguments": "{}"}]}]]
    assert specs.column_history(opening, ["q2"], results, 1, 1) == [
        {"role": "user", "content": "q1"},
        {"role": "assistant", "content": "[called wx({})]"},
        {"role": "user", "content": "q2"},
    ]
    assert specs.column_history(opening, ["q2"], results, 0, 0) == opening


@pytest.mark.parametrize(
    ("dialect", "fixture"),
    [("openai", "openai/openai_tools.sse"), ("anthropic", "anthropic/tool_use.sse")],
)
def test_transcripts_fold_the_same_when_split_anywhere(dialect: str, fixture: str) -> None:
    raw = (FIXTURES / fixture).read_bytes()
    whole = TranscriptReader(dialect)
    whole.feed(raw)
    pieces = TranscriptReader(dialect)
    for start in range(0, len(raw), 7):  # events cut mid-line
        pieces.feed(raw[start : start + 7])
    assert pieces.fold == whole.fold
    assert whole.fold.tool_calls and whole.fold.tool_calls[0]["name"]
    assert whole.fold.output_tokens > 0
    assert whole.fold.finish_reason
    assert bytes(pieces.transcript) == raw


def test_openai_text_usage_and_in_stream_errors_are_read() -> None:
    reader = TranscriptReader("openai")
    shown = reader.feed(
        b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n'
        b'data: {"choices":[{"index":0,"delta":{"content":"lo"},"finish_reason":"stop"}]}\n\n'
        b'data: {"choices":[],"usage":{"prompt_tokens":9,"completion_tokens":2,'
        b'"prompt_tokens_details":{"cached_tokens":4}}}\n\n'
        b'data: {"error":{"message":"upstream went away","type":"api_error"}}\n\n'
        b"data: [DONE]\n\n"
    )
    fold = reader.fold
    assert shown == "Hello" == fold.text
    assert (fold.input_tokens, fold.cache_read_tokens, fold.output_tokens) == (5, 4, 2)
    assert fold.finish_reason == "stop"
    assert fold.error == "upstream went away"


def test_anthropic_error_event_and_error_bodies_are_read() -> None:
    reader = TranscriptReader("anthropic")
    reader.feed(
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error","message":"busy"}}\n\n'
    )
    assert reader.fold.error == "busy"
    assert (
        error_message(b'{"type":"error","error":{"type":"x","message":"nope"}}', "anthropic")
        == "nope"
    )
    assert error_message(b"not json", "openai") == "not json"


def test_columns_attach_only_the_mcp_servers_the_user_may_use() -> None:
    columns = [{"route": "a", "mcp_servers": ["calc", "calc"]}, {"route": "b"}]
    spec = specs.parse_spec(run_request(columns=columns), mcp_usable={"calc"}.__contains__)
    assert spec.columns[0].mcp_servers == ["calc"] and spec.columns[1].mcp_servers == []
    assert spec.columns[0].as_dict()["mcp_servers"] == ["calc"]
    assert "mcp_servers" not in spec.columns[1].as_dict()
    with pytest.raises(specs.SpecError, match="column 1: you may not use the MCP server 'calc'"):
        specs.parse_spec(run_request(columns=columns))  # a role without MCP servers
    with pytest.raises(specs.SpecError, match="MCP servers must be a list"):
        specs.parse_spec(
            run_request(columns=[{"route": "a", "mcp_servers": "calc"}, {"route": "b"}])
        )
