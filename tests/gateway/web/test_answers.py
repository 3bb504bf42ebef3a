"""A logged answer read back in the client's own format (``gateway.web.answers``): a whole
JSON answer through the codec's ``parse_response``, a stream folded through its parser;
nothing logged, an error body, a cut stream or a format without an upstream half is
None, never an exception."""

from __future__ import annotations

import orjson
import pytest

from gateway.web.answers import answer_text, logged_answer

OPENAI_WHOLE = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-x",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris is the capital."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
}


def openai_stream(*pieces: str) -> bytes:
    chunks = [
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
        }
        for piece in pieces
    ]
    chunks.append(
        {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "model": "gpt-x",
            "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}],
        }
    )
    lines = [b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks]
    return b"".join(lines) + b"data: [DONE]\n\n"


ANTHROPIC_WHOLE = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "Bonjour."}],
    "stop_reason": "end_turn",
    "usage": {"input_tokens": 3, "output_tokens": 2},
}


def test_a_whole_json_answer_is_read_with_the_clients_codec() -> None:
    assert answer_text("openai", orjson.dumps(OPENAI_WHOLE)) == "Paris is the capital."
    assert answer_text("anthropic", orjson.dumps(ANTHROPIC_WHOLE).decode()) == "Bonjour."


def test_a_stream_is_folded_into_one_answer() -> None:
    body = openai_stream("Par", "is ", "is the capital.")
    assert answer_text("openai", body) == "Paris is the capital."
    assert logged_answer("openai", memoryview(body)) is not None  # as the database gives it


@pytest.mark.parametrize(
    "dialect, body",
    [
        ("openai", None),
        ("openai", b""),
        ("openai", ""),
        ("openai", b'{"error": {"message": "no", "type": "invalid_request_error"}}'),
        ("openai", b"{cut"),
        ("no-such-format", orjson.dumps(OPENAI_WHOLE)),
    ],
)
def test_what_cannot_be_read_is_none(dialect, body) -> None:
    assert logged_answer(dialect, body) is None
    assert answer_text(dialect, body) is None
