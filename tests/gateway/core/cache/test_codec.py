"""Cache keys cover what changes an answer and nothing else; stored responses come
back equal, parts of every kind included."""

from __future__ import annotations

from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Message,
    Text,
    Thinking,
    Tool,
    ToolCall,
    Usage,
)
from gateway.core.cache import codec


def request(**fields) -> ChatRequest:
    base = dict(model="m", messages=[Message("user", [Text("hi")])])
    return ChatRequest(**{**base, **fields})


def test_delivery_does_not_change_the_key():
    plain = codec.request_key("r", request())
    assert codec.request_key("r", request(stream=True, include_usage=True)) == plain
    assert codec.request_key("r", request(dialect="anthropic")) == plain
    assert codec.request_key("r", request(headers={"anthropic-version": "2023-06-01"})) == plain


def test_everything_that_can_change_the_answer_changes_the_key():
    plain = codec.request_key("r", request())
    variants = [
        request(temperature=0.5),
        request(max_tokens=10),
        request(top_p=0.9),
        request(stop=["x"]),
        request(tools=[Tool("t")]),
        request(system=[Text("be brief")]),
        request(messages=[Message("user", [Text("hello")])]),
        request(extra={"seed": 7}),
        request(headers={"anthropic-beta": "x"}),
        request(user="u1"),
    ]
    keys = {codec.request_key("r", v) for v in variants}
    assert plain not in keys and len(keys) == len(variants)
    assert codec.request_key("other", request()) != plain
    assert codec.request_key("r", request(), "7") != plain


def test_the_key_names_the_route_and_hides_the_prompt():
    key = codec.request_key("gpt-4o", request(messages=[Message("user", [Text("secret")])]))
    assert key.startswith("switchyard:cache:gpt-4o:") and "secret" not in key


def test_a_response_round_trips():
    response = ChatResponse(
        id="x",
        model="m",
        parts=[
            Thinking("hmm", signature="sig"),
            Text("answer"),
            ToolCall("c1", "f", {"a": [1, 2]}),
            ToolCall("c2", "g", {}, raw_arguments="{bad"),
        ],
        finish_reason="tool_calls",
        stop_sequence=None,
        usage=Usage(3, 4, 5, 6, 7),
        created=12,
    )
    assert codec.decode(codec.encode(response)) == response


def test_an_entry_of_another_format_is_a_miss():
    assert codec.decode(b'{"v": 0, "response": {}}') is None
    assert codec.decode(b"not json") is None


def test_the_routes_upstreams_are_part_of_the_key():
    one = codec.request_key("r", request(), "", "openai/gpt-4o")
    assert one != codec.request_key("r", request(), "", "openai/gpt-4o-mini")
    assert one == codec.request_key("r", request(), "", "openai/gpt-4o")
