"""A session's requests read as one conversation (``console.session_thread``): each
request shows only the messages new since the one before (whether the previous answer
came back in the same shape or not), a request that does not continue it shows all of
its own with its system prompt, a body not kept or not readable says so; parts read as
text (images, documents and tool results named, thinking left out), tool calls as
``name(args)``, a user turn of tool results as a tool turn, long text cut."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson

from console import session_thread as st
from gateway.base.types import Document, Image, Text, Thinking, ToolCall, ToolResult


def log(pk: int) -> SimpleNamespace:
    return SimpleNamespace(pk=pk, dialect="openai")


def body(messages: list[dict[str, Any]], answer: str | None = None) -> SimpleNamespace:
    outbound = ""
    if answer is not None:
        outbound = orjson.dumps(
            {"id": "c", "object": "chat.completion", "model": "m",
             "choices": [{"index": 0, "finish_reason": "stop",
                          "message": {"role": "assistant", "content": answer}}]}
        ).decode()  # fmt: skip
    inbound = orjson.dumps({"model": "m", "messages": messages}).decode()
    return SimpleNamespace(inbound_request=inbound, outbound_response=outbound)


SYSTEM = {"role": "system", "content": "Be brief."}
Q1 = {"role": "user", "content": "2+2?"}
A1 = {"role": "assistant", "content": "4"}
Q2 = {"role": "user", "content": "and 3+3?"}


def test_each_request_shows_what_is_new_since_the_one_before() -> None:
    bodies = {1: body([SYSTEM, Q1], "4"), 2: body([SYSTEM, Q1, A1, Q2], "6")}
    first, second = st.thread([log(1), log(2)], bodies)
    assert [(t.role, t.text) for t in first.turns] == [("system", "Be brief."), ("user", "2+2?")]
    assert first.answer == st.Turn("assistant", "4") and first.earlier == 0
    assert [(t.role, t.text) for t in second.turns] == [("user", "and 3+3?")]
    assert second.earlier == 2 and second.answer.text == "6"  # the system prompt is apart


def test_an_answer_in_another_shape_still_continues_the_prompt() -> None:
    reshaped = {"role": "assistant", "content": "four"}
    bodies = {1: body([Q1], "4"), 2: body([Q1, reshaped, Q2], "6")}
    second = st.thread([log(1), log(2)], bodies)[1]
    assert second.earlier == 1
    assert [(t.role, t.text) for t in second.turns] == [("assistant", "four"), ("user", "and 3+3?")]


def test_a_new_conversation_and_unreadable_bodies() -> None:
    bodies = {
        1: body([Q1], "4"),
        2: body([SYSTEM, {"role": "user", "content": "summarise"}], "ok"),
        4: SimpleNamespace(inbound_request="{not json", outbound_response=""),
    }
    steps = st.thread([log(1), log(2), log(3), log(4), log(5)], bodies)
    assert steps[1].earlier == 0 and steps[1].turns[0] == st.Turn("system", "Be brief.")
    assert steps[2].note == "no body kept for this request" and steps[2].turns == []
    assert steps[3].note == "its body cannot be read"
    fresh = st.thread([log(4), log(1)], {4: bodies[4], 1: bodies[1]})[1]
    assert fresh.earlier == 0 and fresh.turns[0].text == "2+2?"  # nothing before to skip


def test_parts_read_as_text() -> None:
    assert st.part_text(Text("hi")) == "hi"
    assert st.part_text(Image(url="http://x/y.png")) == "[image]"
    assert st.part_text(Document(filename="a.pdf")) == "[document a.pdf]"
    assert st.part_text(Document()) == "[document]"
    assert st.part_text(Thinking("hmm")) == "" and st.part_text(ToolCall("1", "f")) == ""
    result = ToolResult("1", [Text("42")])
    assert st.part_text(result) == "[result of tool call] 42"
    assert st.part_text(ToolResult("1", [], is_error=True)) == "[error from tool call]"


def test_a_turn_of_tool_calls_and_results_and_long_text() -> None:
    turn = st.turn_of("assistant", [Text("let me see"), ToolCall("1", "add", {"a": 2})])
    assert turn == st.Turn("assistant", "let me see", ['add({"a":2})'])
    long_args = st.turn_of("assistant", [ToolCall("1", "f", {"x": "y" * 400})]).tools[0]
    assert long_args.endswith("…)") and len(long_args) < 320
    assert st.turn_of("user", [ToolResult("1", [Text("ok")])]).role == "tool"
    assert st.turn_of("user", [Text("a"), ToolResult("1", [Text("ok")])]).role == "user"
    cut = st.turn_of("user", [Text("z" * (st.MAX_TEXT + 10))]).text
    assert cut == "z" * st.MAX_TEXT + " …"
