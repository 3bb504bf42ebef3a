"""The same logged conversation (a system prompt, a question, an assistant tool call, its
result, a follow-up) written as a Chat Completions, a Responses and an Anthropic
Messages request: replay reads each through its client codec into the same canonical
request, and the playground run it prefills sends that system prompt, those tools and
that conversation back through the gateway, the tool turn as a real tool call and tool
result in each column's dialect (read back by that dialect's client codec)."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest

from console.playground import spec as specs
from console.playground.replay import parse_logged, prefill_from_log
from console.playground.views import split_prompt
from gateway.base.types import ChatRequest, Text, ToolCall, ToolResult
from gateway.core.service import protocol

SYSTEM = "Be brief."
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}}

CHAT = {
    "model": "smart",
    "messages": [
        {"role": "system", "content": SYSTEM},
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
        {"role": "user", "content": "So?"},
    ],
    "tools": [
        {
            "type": "function",
            "function": {"name": "wx", "description": "Weather", "parameters": SCHEMA},
        }
    ],
}
RESPONSES = {
    "model": "smart",
    "instructions": SYSTEM,
    "input": [
        {"role": "user", "content": [{"type": "input_text", "text": "Weather in Oslo?"}]},
        {"type": "function_call", "call_id": "c1", "name": "wx", "arguments": '{"city":"Oslo"}'},
        {"type": "function_call_output", "call_id": "c1", "output": "rain"},
        {"role": "user", "content": "So?"},
    ],
    "tools": [{"type": "function", "name": "wx", "description": "Weather", "parameters": SCHEMA}],
}
ANTHROPIC = {
    "model": "smart",
    "max_tokens": 500,
    "system": [{"type": "text", "text": SYSTEM}],
    "messages": [
        {"role": "user", "content": "Weather in Oslo?"},
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "c1", "name": "wx", "input": {"city": "Oslo"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "c1", "content": "rain"},
                {"type": "text", "text": "So?"},
            ],
        },
    ],
    "tools": [{"name": "wx", "description": "Weather", "input_schema": SCHEMA}],
}
LOGGED = [
    pytest.param("openai", CHAT, id="chat-completions"),
    pytest.param("responses", RESPONSES, id="responses"),
    pytest.param("anthropic", ANTHROPIC, id="anthropic-messages"),
]

# The conversation every dialect's body says, part by part.
CONVERSATION = [
    ("user", "text", "Weather in Oslo?"),
    ("assistant", "call", "c1", "wx", {"city": "Oslo"}),
    ("result", "c1", "rain"),
    ("user", "text", "So?"),
]


def conversation(request: ChatRequest) -> list[tuple]:
    """The request's messages as (role, kind, ...) items, one per part; a tool result is
    the same item whichever role carries it (a tool message, a user turn)."""
    items: list[tuple] = []
    for message in request.messages:
        for part in message.parts:
            if isinstance(part, Text):
                items.append((message.role, "text", part.text))
            elif isinstance(part, ToolCall):
                items.append((message.role, "call", part.id, part.name, part.arguments))
            elif isinstance(part, ToolResult):
                text = "".join(p.text for p in part.content if isinstance(p, Text))
                items.append(("result", part.call_id, text))
    return items


def tools(request: ChatRequest) -> list[tuple]:
    return [(t.name, t.description, t.parameters) for t in request.tools]


@pytest.mark.parametrize(("dialect", "body"), LOGGED)
def test_replay_reads_each_dialect_into_the_same_canonical_request(dialect: str, body: dict):
    request = parse_logged(dialect, orjson.dumps(body).decode())
    assert [t.text for t in request.system] + [
        t.text for m in request.messages if m.role == "system" for t in m.parts
    ] == [SYSTEM]
    assert conversation(request) == CONVERSATION
    assert tools(request) == [("wx", "Weather", SCHEMA)]


def ending_in_the_tool_result(dialect: str, body: dict) -> dict:
    """The same logged request without its follow-up: the client sent the tool result
    for the model to answer."""
    body = copy.deepcopy(body)
    if dialect == "anthropic":
        body["messages"][-1]["content"] = body["messages"][-1]["content"][:1]
    else:
        body["messages" if dialect == "openai" else "input"].pop()
    return body


LOGGED_BOTH_ENDS = [
    *(pytest.param(*p.values, CONVERSATION, id=p.id) for p in LOGGED),
    *(
        pytest.param(
            p.values[0],
            ending_in_the_tool_result(*p.values),
            CONVERSATION[:-1],
            id=f"{p.id}-ending-in-the-result",
        )
        for p in LOGGED
    ),
]


def rerun(prefill: dict[str, Any]) -> list[ChatRequest]:
    """What running the prefilled page sends, read back by each column's client codec:
    the page posts the earlier messages, then the prompt box as the last user message
    unless it is empty after tool results (the models answer those)."""
    earlier, prompt = split_prompt(prefill["messages"])
    messages = list(earlier)
    if prompt.strip() or not (earlier and earlier[-1]["role"] == "tool"):
        messages.append({"role": "user", "content": prompt})
    spec = specs.parse_spec(
        {
            "system": prefill["system"],
            "messages": messages,
            "params": prefill["params"],
            "tools": prefill["tools"],
            "columns": prefill["columns"],
        }
    )
    sent = []
    for column in spec.columns:
        body = specs.build_body(
            column.dialect, column.route, spec.system, spec.messages, spec.params, spec.tools
        )
        sent.append(protocol(column.dialect).parse_request(orjson.loads(orjson.dumps(body)), {}))
    return sent


def system_texts(request: ChatRequest) -> list[str]:
    return [t.text for t in request.system] + [
        t.text for m in request.messages if m.role == "system" for t in m.parts
    ]


@pytest.mark.parametrize(("dialect", "body", "said"), LOGGED_BOTH_ENDS)
def test_the_replayed_run_sends_the_system_prompt_tools_and_tool_turn(
    dialect: str, body: dict, said: list[tuple]
):
    raw = orjson.dumps(body).decode()
    original = parse_logged(dialect, raw)
    prefill = prefill_from_log("smart", dialect, "req-1", raw)
    assert "replay_error" not in prefill
    # The page adds a second column on the other dialect: both translations side by side.
    other = "anthropic" if prefill["columns"][0]["dialect"] == "openai" else "openai"
    prefill["columns"].append({"route": "smart", "dialect": other, "params": {}})
    sent = rerun(prefill)
    assert [r.model for r in sent] == ["smart", "smart"]
    for request in sent:
        assert system_texts(request) == system_texts(original) == [SYSTEM]
        assert tools(request) == tools(original) == [("wx", "Weather", SCHEMA)]
        # The tool turn is a real tool call (id, name, arguments) and its result in
        # each column's own dialect, not text about one; nothing follows a result the
        # client did not send.
        assert conversation(request) == conversation(original) == said
