"""The audio endpoints' codec (``gateway.codecs.openai_media.audio``): speech and
transcription requests checked, their usage read."""

from __future__ import annotations

import pytest

from gateway.base.errors import InvalidRequest
from gateway.codecs.openai_media import audio


def test_transcription_checks():
    ok = {"model": "whisper-1"}
    assert audio.check_transcription(ok, [("a.mp3", 10)], translation=False) is False
    assert audio.check_transcription({**ok, "stream": "true"}, [("a.wav", 1)], False) is True
    cases = [
        (ok, [], False, "file"),
        (ok, [("a.txt", 1)], False, "file"),
        (ok, [("a.mp3", audio.MAX_AUDIO_BYTES + 1)], False, "file"),
        ({}, [("a.mp3", 1)], False, "model"),
        ({**ok, "response_format": "xml"}, [("a.mp3", 1)], False, "response_format"),
        ({**ok, "temperature": "3"}, [("a.mp3", 1)], False, "temperature"),
        (
            {**ok, "timestamp_granularities[]": "word"},
            [("a.mp3", 1)],
            False,
            "timestamp_granularities",
        ),
        ({**ok, "stream": "true"}, [("a.mp3", 1)], True, "stream"),
    ]
    for fields, files, translation, param in cases:
        with pytest.raises(InvalidRequest) as refused:
            audio.check_transcription(fields, files, translation)
        assert refused.value.param == param, (fields, files)


def test_speech_checks_and_usage():
    assert audio.check_speech({"input": "hi", "voice": "alloy"}) == "audio/mpeg"
    assert (
        audio.check_speech({"input": "hi", "voice": {"id": "v1"}, "response_format": "wav"})
        == "audio/wav"
    )
    assert (
        audio.check_speech({"input": "hi", "voice": "x", "stream_format": "sse"})
        == "text/event-stream"
    )
    for body, param in [
        ({"voice": "alloy"}, "input"),
        ({"input": "x" * 4097, "voice": "alloy"}, "input"),
        ({"input": "hi"}, "voice"),
        ({"input": "hi", "voice": "a", "speed": 5}, "speed"),
        ({"input": "hi", "voice": "a", "response_format": "ogg"}, "response_format"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            audio.check_speech(body)
        assert refused.value.param == param
    used = audio.Used()
    used.read_body(b'{"text": "x", "usage": {"type": "duration", "seconds": 12.5}}')
    assert used.seconds == 12.5
    used.read_event(
        b'{"type": "transcript.text.done", "usage": {"input_tokens": 9, "output_tokens": 4}}'
    )
    assert (used.input_tokens, used.output_tokens) == (9, 4)
    used.read_body(b"plain text answer")  # says nothing of what it used
    assert used.seconds == 12.5
