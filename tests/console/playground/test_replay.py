"""Replaying a logged request: each dialect's body goes through the gateway's own parser,
so the system prompt stays apart from the conversation, a Responses request keeps its
instructions and input items, and a Claude Code request keeps its blocks and tool turns."""

from __future__ import annotations

import orjson

from console.playground.replay import prefill_from_log


def replay(dialect: str, body: dict | str, route: str = "smart") -> dict:
    raw = body if isinstance(body, str) else orjson.dumps(body).decode()
    return prefill_from_log(route, dialect, "req-1", raw)


def test_a_chat_request_keeps_system_params_tools_and_tool_turns() -> None:
    prefill = replay(
        "openai",
        {
            "model": "smart",
            "temperature": 0.2,
            "max_completion_tokens": 99,
            "messages": [
                {"role": "developer", "content": "Be brief."},
                {"role": "user", "content": "Weather in Oslo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "type": "function",
                            "function": {"name": "wx", "arguments": '{"city": "Oslo"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": "rain"},
                {"role": "system", "content": "Answer in French."},
                {"role": "user", "content": "So?"},
            ],
            "tools": [
                {"type": "function", "function": {"name": "wx", "parameters": {"type": "object"}}}
            ],
        },
    )
    assert prefill["system"] == "Be brief.\n\nAnswer in French."
    assert prefill["messages"] == [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "c1", "name": "wx", "arguments": '{"city":"Oslo"}'}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
        {"role": "user", "content": "So?"},
    ]
    assert prefill["params"] == {"temperature": 0.2, "max_tokens": 99}
    assert prefill["tools"] == [{"name": "wx", "description": "", "parameters": {"type": "object"}}]
    assert prefill["columns"] == [{"route": "smart", "dialect": "openai", "params": {}}]
    assert "replay_error" not in prefill


def test_a_responses_request_replays_with_its_instructions_and_conversation() -> None:
    prefill = replay(
        "responses",
        {
            "model": "smart",
            "instructions": "You are a pirate.",
            "max_output_tokens": 200,
            "reasoning": {"effort": "low"},
            "input": [
                {"role": "user", "content": [{"type": "input_text", "text": "Hi"}]},
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Arr."}],
                },
                {"type": "function_call", "call_id": "f1", "name": "map", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "f1", "output": "treasure at X"},
                {"role": "user", "content": "Where is it?"},
            ],
            "tools": [{"type": "function", "name": "map", "parameters": {"type": "object"}}],
        },
    )
    assert prefill["system"] == "You are a pirate."
    assert prefill["messages"] == [
        {"role": "user", "content": "Hi"},
        {
            "role": "assistant",
            "content": "Arr.",
            "tool_calls": [{"id": "f1", "name": "map", "arguments": "{}"}],
        },
        {"role": "tool", "tool_call_id": "f1", "content": "treasure at X"},
        {"role": "user", "content": "Where is it?"},
    ]
    assert prefill["params"] == {"max_tokens": 200, "reasoning_effort": "low"}
    assert [t["name"] for t in prefill["tools"]] == ["map"]
    # Responses requests replay through the OpenAI chat dialect (the playground's own).
    assert prefill["columns"][0]["dialect"] == "openai"


def test_a_plain_string_responses_input_is_the_prompt() -> None:
    prefill = replay("responses", {"model": "m", "instructions": "Sys.", "input": "Hello"})
    assert prefill["system"] == "Sys."
    assert prefill["messages"] == [{"role": "user", "content": "Hello"}]


def claude_code_body() -> dict:
    """The shape Claude Code sends: system blocks with cache_control, a reminder block
    in the user turn, thinking, tool_use and tool_result turns, metadata."""
    return {
        "model": "claude-sonnet",
        "max_tokens": 32000,
        "stream": True,
        "system": [
            {"type": "text", "text": "You are Claude Code, Anthropic's official CLI."},
            {
                "type": "text",
                "text": "Use tools to read files.",
                "cache_control": {"type": "ephemeral"},
            },
        ],
        "thinking": {"type": "enabled", "budget_tokens": 31999},
        "metadata": {"user_id": "user_abc"},
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>ctx</system-reminder>"},
                    {"type": "text", "text": "List the files"},
                ],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "I should run ls.", "signature": "sig"},
                    {"type": "tool_use", "id": "t1", "name": "Bash", "input": {"cmd": "ls"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t1",
                        "content": [{"type": "text", "text": "a.py b.py"}],
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "Bash",
                "description": "Run a command",
                "input_schema": {"type": "object", "properties": {"cmd": {"type": "string"}}},
            }
        ],
    }


def test_a_claude_code_request_keeps_its_system_blocks_apart_and_its_tool_turns() -> None:
    prefill = replay("anthropic", claude_code_body())
    assert prefill["system"] == (
        "You are Claude Code, Anthropic's official CLI.\n\nUse tools to read files."
    )
    assert prefill["messages"] == [
        {"role": "user", "content": "<system-reminder>ctx</system-reminder>\nList the files"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "t1", "name": "Bash", "arguments": '{"cmd":"ls"}'}],
        },
        {"role": "tool", "tool_call_id": "t1", "content": "a.py b.py"},
    ]
    assert "Claude Code" not in "".join(m["content"] for m in prefill["messages"])
    assert prefill["params"] == {"max_tokens": 32000, "reasoning_effort": "high"}
    assert prefill["tools"][0]["name"] == "Bash"
    assert prefill["columns"][0] == {"route": "smart", "dialect": "anthropic", "params": {}}


def test_an_anthropic_tool_error_is_marked_as_such() -> None:
    body = claude_code_body()
    body["messages"][2]["content"][0]["is_error"] = True
    prefill = replay("anthropic", body)
    assert prefill["messages"][-1] == {
        "role": "tool",
        "tool_call_id": "t1",
        "content": "a.py b.py",
        "is_error": True,
    }


def test_a_truncated_body_says_why_it_cannot_be_replayed() -> None:
    cut = orjson.dumps(claude_code_body()).decode()[:300] + "\n…[truncated by Switchyard]"
    prefill = replay("anthropic", cut)
    assert "cut at the size limit" in prefill["replay_error"]
    assert prefill["messages"] == [{"role": "user", "content": ""}]
    assert prefill["columns"][0]["route"] == "smart"


def test_a_body_its_parser_refuses_says_so() -> None:
    prefill = replay("anthropic", {"model": "m", "messages": []})  # no max_tokens
    assert "max_tokens" in prefill["replay_error"]


def test_an_embeddings_log_is_not_replayable() -> None:
    prefill = replay("embeddings", {"model": "m", "input": "x"})
    assert "cannot be replayed" in prefill["replay_error"]
