"""A column's stream read through the codecs: a logged stream of each upstream format
(OpenAI chat, Anthropic, Responses, Gemini SSE) folds to its text, reasoning, tool calls,
usage and canonical finish reason, the same whether fed whole or cut anywhere; errors
in the stream or in an error reply are read by the codec, and a stream cut before its
finish is an error."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from console.playground.stream import TranscriptReader, error_message, fold_transcript

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"

CASES = [
    pytest.param(
        "openai",
        "openai/openai_tools.sse",
        "",
        "",
        [("call_Wq8xKj2LmN0pQr", "get_weather", {"city": "Paris"})],
        (84, 15),
        id="openai-chat",
    ),
    pytest.param(
        "anthropic",
        "anthropic/tool_use.sse",
        "I'll check the weather in Paris.",
        "",
        [("toolu_01WeatherA", "get_weather", {"location": "Paris, France", "unit": "celsius"})],
        (412, 68),
        id="anthropic",
    ),
    pytest.param(
        "responses",
        "openai_responses/reasoning_tools.sse",
        "Let me look both up.",
        "**Checking two cities**",
        [
            ("call_P4r1sWe4th3r", "get_weather", {"city": "Paris", "unit": "celsius"}),
            ("call_T0ky0We4th3r", "get_weather", {"city": "Tokyo"}),
        ],
        (120, 410),
        id="responses",
    ),
    pytest.param(
        "gemini",
        "gemini/thinking_tools.sse",
        "Checking both cities.",
        "The user wants weather in two cities; ",
        [
            (None, "get_weather", {"city": "Paris", "unit": "c"}),  # Gemini sends no ids
            (None, "get_weather", {"city": "Tokyo"}),
        ],
        (57, 151),
        id="gemini",
    ),
]


@pytest.mark.parametrize(("codec", "fixture", "text", "thinking", "calls", "usage"), CASES)
def test_a_logged_stream_of_each_format_folds_to_its_text_and_tool_calls(
    codec: str, fixture: str, text: str, thinking: str, calls: list, usage: tuple
) -> None:
    raw = (FIXTURES / fixture).read_bytes()
    fold = fold_transcript(codec, raw)
    assert fold.text == text
    assert fold.thinking.startswith(thinking)
    assert [c["name"] for c in fold.tool_calls] == [name for _, name, _ in calls]
    assert [orjson.loads(c["arguments"]) for c in fold.tool_calls] == [a for _, _, a in calls]
    for call, (call_id, _, _) in zip(fold.tool_calls, calls, strict=True):
        assert call["id"] == call_id if call_id else call["id"]
    assert (fold.input_tokens, fold.output_tokens) == usage
    assert fold.finish_reason == "tool_calls"
    assert fold.error == ""

    # The same answer given whole (the fixture's .json) reads the same through the codec.
    reader = TranscriptReader(codec)
    whole = reader.codec.parse_response(
        orjson.loads(FIXTURES.joinpath(fixture).with_suffix(".json").read_bytes())
    )
    assert whole.text() == fold.text
    assert [(c.name, c.arguments) for c in whole.tool_calls()] == [
        (c["name"], orjson.loads(c["arguments"])) for c in fold.tool_calls
    ]


@pytest.mark.parametrize(("codec", "fixture", "text", "thinking", "calls", "usage"), CASES)
def test_a_stream_cut_anywhere_folds_as_whole(
    codec: str, fixture: str, text: str, thinking: str, calls: list, usage: tuple
) -> None:
    raw = (FIXTURES / fixture).read_bytes()
    pieces = TranscriptReader(codec)
    shown = "".join(pieces.feed(raw[start : start + 5]) for start in range(0, len(raw), 5))
    shown += pieces.close()
    assert shown == text  # what the page is sent while streaming: the text, in order
    assert pieces.fold == fold_transcript(codec, raw)
    assert bytes(pieces.transcript) == raw
    assert pieces.folder.result().text() == text  # the StreamFolder saw the same events


@pytest.mark.parametrize(
    ("codec", "fixture", "message"),
    [
        ("anthropic", "anthropic/overloaded_midstream.sse", "Overloaded"),
        ("responses", "openai_responses/error_midstream.sse", "The server had an error"),
        ("gemini", "gemini/midstream_error.sse", "The model is overloaded"),
    ],
)
def test_an_error_in_the_stream_is_read_by_its_codec(codec: str, fixture: str, message: str):
    fold = fold_transcript(codec, (FIXTURES / fixture).read_bytes())
    assert message in fold.error
    assert fold.text.startswith("Partial")


def test_a_stream_cut_before_its_finish_is_an_error() -> None:
    reader = TranscriptReader("openai")
    reader.feed(b'data: {"choices":[{"index":0,"delta":{"content":"Hel"}}]}\n\n')
    assert reader.fold.error == ""
    reader.close()
    assert reader.fold.text == "Hel" and reader.fold.error


def test_a_held_finish_is_read_at_the_end_of_the_stream() -> None:
    """OpenAI holds the finish for a usage chunk that may never come."""
    reader = TranscriptReader("openai")
    reader.feed(
        b'data: {"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":"length"}]}'
    )
    assert reader.fold.finish_reason == ""
    reader.close()  # the last event had no blank line after it
    assert (reader.fold.text, reader.fold.finish_reason, reader.fold.error) == ("Hi", "length", "")


def test_the_reader_skips_comments_and_noise_and_joins_events_cut_anywhere() -> None:
    """Read through the gateway's SSE reader: a comment, keep-alive noise, an event's
    data on two lines and a character cut in two between chunks."""
    reader = TranscriptReader("anthropic")
    start = b'event: message_start\ndata: {"type":"message_start","message":{"id":"m",'
    start += b'"model":"x","usage":{"input_tokens":3,"output_tokens":0}}}\n\n'
    block = b'event: content_block_start\ndata: {"type":"content_block_start","index":0,'
    block += b'\ndata: "content_block":{"type":"text","text":""}}\n\n'
    delta = 'data: {"type":"content_block_delta","index":0,'
    delta += '"delta":{"type":"text_delta","text":"caf\u00e9 ok"}}\n\n'
    raw = b": keep-alive\n\n" + start + b"data: nope\n\n" + block + delta.encode()
    cut = raw.index("\u00e9".encode()) + 1
    shown = reader.feed(raw[:cut]) + reader.feed(raw[cut:])
    stop = b'data: {"type":"message_delta","delta":{"stop_reason":"end_turn"},'
    stop += b'"usage":{"output_tokens":2}}\r\n\r\ndata: {"type":"message_stop"}'
    shown += reader.feed(stop) + reader.close()  # the last event without its blank line
    assert shown == "caf\u00e9 ok"
    assert (reader.fold.input_tokens, reader.fold.output_tokens) == (3, 2)
    assert reader.fold.finish_reason == "stop" and not reader.fold.error


def test_the_playground_reads_sse_with_the_gateways_one_reader() -> None:
    """No second server-sent-events parser in the console."""
    source = Path(__file__).resolve().parents[3] / "console" / "playground" / "stream.py"
    text = source.read_text()
    assert "SSEDecoder" in text and 'startswith(":")' not in text and 'partition(":")' not in text


def test_error_replies_are_read_in_each_dialect() -> None:
    openai = b'{"error":{"message":"no such route","type":"invalid_request_error"}}'
    anthropic = b'{"type":"error","error":{"type":"not_found_error","message":"no such route"}}'
    assert error_message(openai, "openai") == "no such route"
    assert error_message(anthropic, "anthropic") == "no such route"
    assert error_message(b"<html>bad gateway</html>", "anthropic") == "<html>bad gateway</html>"


def test_text_blocks_with_tool_steps_between_are_paragraphs() -> None:
    """A hosted MCP answer on the Anthropic dialect: text, the tool's blocks, text."""
    events = [
        ("message_start", {"type": "message_start", "message": {"id": "m", "type": "message",
         "role": "assistant", "model": "x", "content": [], "usage": {"input_tokens": 1,
         "output_tokens": 0}}}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
         "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 0,
         "delta": {"type": "text_delta", "text": "Let me add."}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("content_block_start", {"type": "content_block_start", "index": 1,
         "content_block": {"type": "text", "text": ""}}),
        ("content_block_delta", {"type": "content_block_delta", "index": 1,
         "delta": {"type": "text_delta", "text": "Done: 42"}}),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    ]  # fmt: skip
    reader = TranscriptReader("anthropic")
    for name, data in events:
        reader.feed(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n")
    assert reader.fold.text == "Let me add.\n\nDone: 42"
