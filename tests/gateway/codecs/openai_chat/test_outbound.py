"""The OpenAI chat codec as the shared path drives it: a full ``PassthroughCodec``
(usage, in-stream errors from the shared maps, 200 error bodies, the usage asked for
on passed-through streams and withheld from callers who did not ask), and a stream
parser that reads ``[DONE]`` and ``event: error``."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base.errors import UpstreamError, UpstreamTimeout
from gateway.base.types import ChatRequest, ErrorEvent, Finish, Message, Text, Usage
from gateway.codecs.base import DONE, PassthroughCodec, Target, WireEvent
from gateway.codecs.openai_chat import codec, maps, outbound


def test_the_codec_is_a_passthrough_codec_on_the_shared_maps():
    assert isinstance(codec, PassthroughCodec)
    assert codec.framing == "sse+done"
    error = UpstreamTimeout("slow")
    assert codec.stream_error(error) == maps.stream_error(error)
    usage = {"prompt_tokens": 10, "completion_tokens": 2}
    assert codec.usage_of({"usage": usage}) == Usage(input_tokens=10, output_tokens=2)
    assert codec.usage_of([]) == Usage()


def test_a_2xx_error_envelope_is_an_error_but_answers_are_not():
    failure = codec.answer_error({"error": {"message": "loading", "code": 503}})
    assert isinstance(failure, UpstreamError) and failure.status == 503
    assert codec.answer_error({"error": None, "choices": [{}]}) is None
    assert codec.answer_error({"error": "x", "choices": [{"message": {}}]}) is None
    assert codec.answer_error({"error": "x", "data": []}) is None  # an embeddings list
    assert "unexpected JSON" in codec.answer_error([1]).message


def test_parse_response_raises_the_error_a_200_body_stands_for():
    try:
        codec.parse_response({"error": {"message": "quota", "code": "429"}})
    except UpstreamError as error:
        assert error.status == 429 and error.message == "quota"
    else:
        raise AssertionError("no error raised")


def test_a_passed_through_stream_always_asks_for_usage_keeping_the_callers_options():
    body = {"model": "m", "stream_options": {"include_obfuscation": False}}
    sent = codec.stream_body(body)
    assert sent["stream"] is True
    assert sent["stream_options"] == {"include_obfuscation": False, "include_usage": True}
    assert body == {"model": "m", "stream_options": {"include_obfuscation": False}}


def test_the_usage_only_chunk_is_withheld_unless_the_caller_asked():
    usage_only = WireEvent(None, {"choices": [], "usage": {"prompt_tokens": 1}})
    text = WireEvent(None, {"choices": [{"delta": {"content": "x"}}]})
    assert codec.withheld(usage_only, {"model": "m"})
    assert not codec.withheld(usage_only, {"stream_options": {"include_usage": True}})
    assert not codec.withheld(text, {"model": "m"})
    assert not codec.withheld(WireEvent(None, DONE), {"model": "m"})


def test_the_parser_finishes_at_done_and_reads_event_error():
    parser = codec.stream_parser()
    chunk = {"id": "c1", "model": "m", "choices": [{"index": 0, "delta": {"content": "hi"}}]}
    parser.feed(WireEvent(None, chunk))
    assert parser.feed(WireEvent(None, None)) == []  # noise
    assert parser.feed(WireEvent(None, DONE))[-1] == Finish("stop")
    assert parser.finish() == []
    [error] = codec.stream_parser().feed(WireEvent("error", {"message": "boom"}))
    assert isinstance(error, ErrorEvent) and error.error.message == "boom"


def test_the_stream_variant_follows_the_request_over_params():
    request = ChatRequest(model="m", messages=[Message("user", [Text("hi")])])
    target = Target(model="m", params={"stream": True, "stream_options": {"x": 1}})
    assert "stream" not in codec.build_request(request, target)
    assert "stream_options" not in codec.build_request(request, target)
    streamed = codec.build_request(dataclasses.replace(request, stream=True), target)
    assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}


# --- the stream translator's short way for more text ----------------------------------------


def _chunk(delta: object = None, **choice: object) -> dict[str, object]:
    return {"id": "r", "model": "m", "choices": [{"index": 0, "delta": delta, **choice}]}


_TOOL_CALL = {"index": 0, "id": "c1", "function": {"name": "f", "arguments": "{}"}}
# chunks an upstream sends, the short way's own and every near miss of it
_CHUNKS = st.sampled_from(
    [
        _chunk({"content": " tok"}),
        _chunk({"content": "é\n"}, finish_reason=None),
        _chunk({"role": "assistant", "content": "x"}),
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"content": ""}),
        _chunk({"content": None}),
        _chunk({"content": [{"type": "text", "text": "parts"}]}),
        _chunk({"content": "x", "refusal": "no"}),
        _chunk({"refusal": "no"}),
        _chunk({"reasoning_content": "hm"}),
        _chunk({"content": "y", "reasoning": "hm"}),
        _chunk({"tool_calls": [_TOOL_CALL]}),
        _chunk({"content": "z"}, finish_reason="stop"),
        _chunk({}, finish_reason="length"),
        _chunk({"content": "w"}, index=1),
        _chunk("not a dict"),
        {"choices": [{"delta": {"content": "no index"}}]},
        {"choices": [{"delta": {"content": "a"}}, {"index": 1, "delta": {"content": "b"}}]},
        {"choices": ["not a dict"]},
        {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 1}},
        {"choices": [{"index": 0, "delta": {"content": "u"}}], "usage": {"prompt_tokens": 3}},
        {"choices": [{"index": 0, "delta": {"content": "e"}}], "error": {"message": "x"}},
        {"choices": [{"index": 0, "delta": {"content": "n"}}], "usage": None, "error": None},
    ]
)


class _TheLongWay(outbound.ChunkTranslator):
    def _more_text(self, chunk):  # type: ignore[no-untyped-def]
        return None


@settings(max_examples=500, deadline=None)
@given(st.lists(_CHUNKS, max_size=10))
def test_more_text_read_the_short_way_makes_the_events_the_long_way_makes(chunks):
    short, long = outbound.ChunkTranslator(), _TheLongWay()
    for chunk in chunks:
        assert _fed(short, chunk) == _fed(long, chunk)
    assert repr(short.finish()) == repr(long.finish())


def _fed(translator: outbound.ChunkTranslator, chunk: object) -> str:
    """What feeding ``chunk`` made (repr: an ErrorEvent's exception equals only itself),
    or the exception it raised (a malformed chunk fails both ways alike)."""
    try:
        return repr(translator.feed(chunk))  # type: ignore[arg-type]
    except Exception as exc:
        return type(exc).__name__


def test_an_error_without_an_envelope_keeps_its_top_level_message() -> None:
    error = outbound.parse_error(400, b'{"message": "no such model", "code": 1}')
    assert error.status == 400 and error.message == "upstream returned 400: no such model"
    said = outbound.parse_error(
        429, b'{"error": {"message": "slow down", "code": "rate", "param": "x"}}'
    )
    assert (said.message, said.code, said.param) == (
        "upstream returned 429: slow down",
        "rate",
        "x",
    )
