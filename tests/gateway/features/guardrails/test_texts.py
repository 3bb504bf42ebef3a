"""The texts a guardrail reads (L28): an assistant's earlier tool-call arguments, tool
definitions (name, description) and a message's ``name`` are read, and a rewrite lands
where the text came from; a body's declared fields include ``{"text": ...}`` items."""

from __future__ import annotations

from typing import Any

import orjson

from gateway.base.endpoints import Field
from gateway.base.types import ChatResponse, Text, ToolCall
from gateway.codecs import client
from gateway.features.guardrails import texts


def parsed(body: dict) -> object:
    return client("openai").parse_request(body, {})


BODY = {
    "model": "m",
    "tools": [
        {
            "type": "function",
            "function": {
                "name": "lookup",
                "description": "find the secret plan",
                "parameters": {"type": "object", "properties": {}},
            },
        }
    ],
    "messages": [
        {"role": "user", "name": "mallory", "content": "hello"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "lookup", "arguments": '{"q": "the secret plan"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "done"},
    ],
}


def test_tool_calls_tool_definitions_and_names_are_read() -> None:
    slots = texts.request_slots(parsed(BODY))
    assert "hello" in slots.texts and "done" in slots.texts  # the control: as before
    assert "find the secret plan" in slots.texts
    assert "lookup" in slots.texts
    assert "mallory" in slots.texts
    assert any(orjson.loads(t) == {"q": "the secret plan"} for t in slots.texts if t[0] == "{")


def test_a_rewrite_lands_where_each_text_came_from() -> None:
    request = parsed(BODY)
    slots = texts.request_slots(request)
    new = [t.replace("secret", "[X]").replace("mallory", "[N]") for t in slots.texts]
    slots.write(new)
    assert request.tools[0].description == "find the [X] plan"
    assert request.messages[0].name == "[N]"
    call = request.messages[1].parts[0]
    assert orjson.loads(call.raw_arguments or orjson.dumps(call.arguments)) == {"q": "the [X] plan"}


def test_a_body_fields_strings_and_text_objects_are_read_and_rewritten() -> None:
    body = {"query": "q1", "documents": ["d1", {"text": "d2"}, {"other": "x"}, 3]}
    slots = texts.body_slots(body, (Field("query"), Field("documents", key="text")))
    assert slots.texts == ["q1", "d1", "d2"]
    slots.write(["Q", "D1", "D2"])
    assert body == {"query": "Q", "documents": ["D1", {"text": "D2"}, {"other": "x"}, 3]}


# Whole answers as upstreams send them, each codec's own shapes and the odd ones: what a
# codec reads off the body (``answer_texts``) must be what its parsed answer holds.
OPENAI_ANSWERS: list[dict[str, Any]] = [
    {"choices": [{"message": {"role": "assistant", "content": "hello there"}}]},
    {"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"text": "b"}, 3]}}]},
    {"choices": [{"message": {"content": None, "refusal": "I can't"}}]},
    {"choices": [{"message": {"content": "", "reasoning_content": "thought"}}]},
    {"choices": [{"message": {"content": "x", "tool_calls": []}}]},
    {"choices": [{"message": {}}]},
    {"choices": [{}]},
    {"choices": []},
    {"object": "chat.completion"},
    {"choices": [None]},
    {
        "choices": [
            {
                "message": {
                    "content": "calling",
                    "tool_calls": [
                        {"id": "c", "function": {"name": "f", "arguments": '{"a":  1}'}},
                        {"id": "d", "function": {"name": "g", "arguments": "not json"}},
                    ],
                }
            }
        ]
    },
]
ANTHROPIC_ANSWERS: list[dict[str, Any]] = [
    {"content": [{"type": "text", "text": "hello there"}]},
    {"content": [{"type": "thinking", "thinking": "t"}, {"type": "text", "text": ""}]},
    {
        "content": [
            {"type": "text", "text": "one"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"q": "the plan", "n": 2}},
            {"type": "tool_use", "id": "u", "name": "switchyard_json", "input": {"a": [1]}},
            {"type": "tool_use", "id": "v", "name": "g"},
            {"type": "redacted_thinking", "data": "x"},
            {"type": "text", "text": "two"},
        ]
    },
    {"content": []},
    {},
]


def test_a_passthrough_codec_reads_an_answer_s_texts_as_its_parsed_answer_holds_them() -> None:
    from gateway.codecs.anthropic import codec as anthropic
    from gateway.codecs.openai_chat import codec as openai

    read = 0
    for codec, answers in ((openai, OPENAI_ANSWERS), (anthropic, ANTHROPIC_ANSWERS)):
        for data in answers:
            found = codec.answer_texts(data)
            if found is None:  # read as parsed: tool calls, parts, or no choice's message
                choice = (data.get("choices") or [None])[0]
                message = choice.get("message") if isinstance(choice, dict) else None
                assert (
                    not message
                    or message.get("tool_calls")
                    or isinstance(message.get("content"), list)
                ), data
                continue
            read += 1
            assert found == texts.response_slots(codec.parse_response(data)).texts, data
    assert read == 10


def test_a_passed_answer_is_parsed_only_for_a_rewrite_and_the_rewrite_lands_in_it() -> None:
    from gateway.codecs.anthropic import codec as anthropic

    data = {
        "content": [
            {"type": "text", "text": "mail x@y.org"},
            {"type": "tool_use", "id": "t", "name": "f", "input": {"to": "x@y.org"}},
        ]
    }
    parsed: list[ChatResponse] = []

    def parse() -> ChatResponse:
        parsed.append(anthropic.parse_response(data))
        return parsed[-1]

    slots = texts.PassedSlots(anthropic.answer_texts(data), parse)
    assert slots.texts == ["mail x@y.org", '{"to":"x@y.org"}'] and not parsed
    changed = slots.write(["mail [EMAIL]", '{"to":"[EMAIL]"}'])
    assert changed == {"mail x@y.org": "mail [EMAIL]", '{"to":"x@y.org"}': '{"to":"[EMAIL]"}'}
    assert slots.response is parsed[0]
    text, call = slots.response.parts
    assert isinstance(text, Text) and isinstance(call, ToolCall)
    assert text.text == "mail [EMAIL]" and call.arguments == {"to": "[EMAIL]"}
