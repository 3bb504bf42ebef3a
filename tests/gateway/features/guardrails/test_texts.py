"""The texts a guardrail reads (L28): an assistant's earlier tool-call arguments, tool
definitions (name, description) and a message's ``name`` are read, and a rewrite lands
where the text came from; a body's declared fields include ``{"text": ...}`` items."""

from __future__ import annotations

import orjson

from gateway.base.endpoints import Field
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
