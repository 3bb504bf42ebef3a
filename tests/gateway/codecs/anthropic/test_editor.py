"""A passed-through Messages stream edited for a post_call guardrail: the text a
``text_delta`` carries, text and tool arguments written back into the event, and a
stopped answer closing the blocks still open before ``refusal`` and ``message_stop``."""

from __future__ import annotations

import orjson

from gateway.base.types import Usage
from gateway.codecs.anthropic.editor import editor


def events(raw: bytes) -> list[tuple[str, dict]]:
    out = []
    for chunk in raw.decode().split("\n\n"):
        if chunk:
            name, data = chunk.split("\n")
            out.append((name.removeprefix("event: "), orjson.loads(data.removeprefix("data: "))))
    return out


def test_only_a_text_delta_is_read_as_text():
    edit = editor({})
    delta = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta"}}
    assert edit.text_of(orjson.dumps({**delta, "delta": {"text": "hello"}}).decode()) == "hello"
    assert edit.text_of('{"type": "ping"}') is None
    assert edit.text_of('{"delta": {"text": 3}}') is None
    assert edit.text_of("not json") is None
    assert edit.text_of('["a list"]') is None


def test_an_edit_writes_the_text_where_it_came():
    edit = editor({})
    start = {"type": "content_block_start", "content_block": {"type": "text", "text": "a"}}
    edit.set_text(start, "[redacted]")
    assert start["content_block"]["text"] == "[redacted]"
    tool = {"type": "content_block_start", "content_block": {"type": "tool_use", "input": {}}}
    edit.set_text(tool, "x")
    assert tool["content_block"] == {"type": "tool_use", "input": {}}
    text = {"delta": {"type": "text_delta", "text": "secret"}}
    edit.set_text(text, "s****t")
    assert text["delta"]["text"] == "s****t"
    json_tool = {"delta": {"type": "input_json_delta", "partial_json": '{"a"'}}
    edit.set_text(json_tool, '{"b"')
    assert json_tool["delta"]["partial_json"] == '{"b"'


def test_a_tools_arguments_are_replaced_only_where_they_match():
    edit = editor({})
    data = {"delta": {"type": "input_json_delta", "partial_json": '{"q": "x"}'}}
    assert not edit.set_arguments(data, '{"q": "other"}', "{}")
    assert edit.set_arguments(data, '{"q": "x"}', '{"q": "y"}')
    assert data["delta"]["partial_json"] == '{"q": "y"}'
    assert not edit.set_arguments({"delta": {"type": "text_delta"}}, "", "{}")


def test_a_stopped_answer_closes_the_open_blocks_and_ends_in_refusal():
    edit = editor({})
    edit.sent({"type": "content_block_start", "index": 0})
    edit.sent({"type": "content_block_start", "index": 1})
    edit.sent({"type": "content_block_stop", "index": 0})
    edit.sent("not a dict")
    got = events(edit.stopped(Usage(input_tokens=12, output_tokens=5, cache_read_tokens=2)))
    assert got == [
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "refusal", "stop_sequence": None},
                "usage": {
                    "input_tokens": 12,
                    "output_tokens": 5,
                    "cache_read_input_tokens": 2,
                    "cache_creation_input_tokens": 0,
                },
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    assert [name for name, _ in events(edit.stopped(Usage()))] == ["message_delta", "message_stop"]
