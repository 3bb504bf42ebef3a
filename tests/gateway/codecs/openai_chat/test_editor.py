"""A passed-through chat stream edited for a post_call guardrail: none for several
choices, the text of choice 0 read and written back (content or refusal), a tool call's
arguments replaced, and a stopped answer ending ``content_filter`` in the envelope of the
chunks already sent, with the usage chunk when the caller asked for it, then ``[DONE]``."""

from __future__ import annotations

import orjson

from gateway.base.types import Usage
from gateway.codecs.openai_chat.editor import editor


def chunks(raw: bytes) -> list:
    return [
        chunk.removeprefix("data: ") if chunk == "data: [DONE]" else orjson.loads(chunk[6:])
        for chunk in raw.decode().split("\n\n")
        if chunk
    ]


def test_several_choices_are_not_edited():
    assert editor({"n": 2}) is None
    assert editor({"n": 1}) is not None and editor({}) is not None


def test_the_text_of_choice_zero_is_read():
    edit = editor({})
    assert edit.text_of('{"choices": [{"index": 0, "delta": {"content": "hi"}}]}') == "hi"
    assert edit.text_of('{"choices": [{"index": 1, "delta": {"content": "hi"}}]}') is None
    assert edit.text_of('{"choices": []}') is None
    assert edit.text_of('{"choices": [{"delta": {"content": null}}]}') is None
    assert edit.text_of("[DONE]") is None


def test_the_text_goes_back_where_it_came_from():
    edit = editor({})
    data = {"choices": [{"index": 1, "delta": {"content": "b"}}, {"delta": {"content": "a"}}]}
    edit.set_text(data, "A")
    assert [c["delta"]["content"] for c in data["choices"]] == ["b", "A"]
    refusal = {"choices": [{"index": 0, "delta": {"content": None, "refusal": "no"}}]}
    edit.set_text(refusal, "NO")
    assert refusal["choices"][0]["delta"] == {"content": None, "refusal": "NO"}
    untouched = {"choices": [{"index": 0, "delta": "odd"}]}
    edit.set_text(untouched, "x")
    assert untouched == {"choices": [{"index": 0, "delta": "odd"}]}


def test_a_tool_calls_arguments_are_replaced_where_they_match():
    edit = editor({})
    call = {"index": 0, "function": {"arguments": '{"q":1}'}}
    data = {"choices": [{"index": 0, "delta": {"tool_calls": ["junk", call]}}]}
    assert not edit.set_arguments(data, '{"q":2}', "{}")
    assert edit.set_arguments(data, '{"q":1}', '{"q":3}')
    assert call["function"]["arguments"] == '{"q":3}'
    assert not edit.set_arguments({"choices": []}, "", "{}")


def test_a_stopped_answer_ends_in_the_envelope_already_sent_with_the_usage_asked_for():
    edit = editor({"stream_options": {"include_usage": True}})
    edit.sent({"object": "chat.completion.chunk", "created": 5})  # no id: not the envelope
    first = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 7, "model": "m"}
    edit.sent({**first, "choices": []})
    edit.sent({"id": "chatcmpl-2", "created": 9})  # the first one's stays
    finish, usage, done = chunks(edit.stopped(Usage(input_tokens=3, output_tokens=4)))
    assert finish == {
        **first,
        "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "content_filter"}],
    }
    assert usage["id"] == "chatcmpl-1" and usage["choices"] == []
    assert (usage["usage"]["prompt_tokens"], usage["usage"]["completion_tokens"]) == (3, 4)
    assert done == "[DONE]"


def test_a_stop_before_any_chunk_makes_its_own_envelope_and_no_usage_unasked():
    finish, done = chunks(editor({}).stopped(Usage()))
    assert finish["id"].startswith("chatcmpl-") and finish["object"] == "chat.completion.chunk"
    assert finish["choices"][0]["finish_reason"] == "content_filter" and done == "[DONE]"
