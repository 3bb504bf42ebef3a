"""What the semantic cache embeds: the system prompt and the conversation, normalized;
nothing for a request it cannot judge safely."""

from __future__ import annotations

from gateway.base.types import (
    ChatRequest,
    Image,
    Message,
    ResponseFormat,
    Text,
    Thinking,
    Tool,
    ToolCall,
    ToolResult,
)
from gateway.features.semantic_cache.text import MAX_CHARS, text_key


def request(*messages: Message, **fields) -> ChatRequest:
    return ChatRequest(model="m", messages=list(messages), **fields)


def user(*parts) -> Message:
    return Message("user", [Text(p) if isinstance(p, str) else p for p in parts])


def test_system_and_turns_one_line_each_whitespace_collapsed() -> None:
    asked = request(
        user("  What is\n the capital   of France? "),
        Message("assistant", [Thinking("hmm"), Text("Paris.")]),
        user("And of Spain?"),
        system=[Text("Be  brief.")],
    )
    assert text_key(asked) == (
        "system: Be brief.\nuser: What is the capital of France?\n"
        "assistant: Paris.\nuser: And of Spain?"
    )


def test_requests_it_cannot_judge_safely_are_not_taken() -> None:
    plain = user("hello")
    assert text_key(request(plain)) == "user: hello"
    assert text_key(request(plain, tools=[Tool("lookup")])) is None
    assert text_key(request(plain, response_format=ResponseFormat("json_object"))) is None
    assert text_key(request(plain, n=2)) is None
    call = Message("assistant", [ToolCall("c1", "lookup", {"q": "x"})])
    result = Message("tool", [ToolResult("c1", [Text("42")])])
    assert text_key(request(plain, call, result)) is None
    assert text_key(request(user("what is this?", Image(url="https://x/y.png")))) is None
    assert text_key(request(Message("assistant", [Text("only an answer")]))) is None
    assert text_key(request(user("x" * (MAX_CHARS + 1)))) is None
