"""The media codec (``gateway.codecs.openai_media``): multipart bodies read as views of
the body and rewritten only in the model field, image requests checked and translated
to and from Gemini's image output, audio requests checked and their usage read."""

from __future__ import annotations

import base64

import httpx
import pytest

from gateway.codecs.openai_media import audio, forms, images
from gateway.errors import InvalidRequest


def multipart(fields: dict[str, object], files: list[tuple[str, tuple[str, bytes, str]]]):  # type: ignore[no-untyped-def]
    request = httpx.Request("POST", "http://x", data=fields, files=files)
    return request.read(), request.headers["content-type"]


def test_parts_are_views_of_the_body_and_only_the_model_is_rewritten():
    tricky = b"\x89PNG" + b"\r\n--" * 3000 + b"\r\n" + b"\xff" * 100  # boundary-like bytes
    raw, kind = multipart(
        {"model": "img", "prompt": "cat", "timestamp_granularities[]": ["word", "segment"]},
        [("image[]", ("a.png", tricky, "image/png")), ("image[]", ("b.png", b"B", "image/png"))],
    )
    form = forms.parse(raw, kind)
    assert form.fields() == {
        "model": "img",
        "prompt": "cat",
        "timestamp_granularities[]": "word,segment",
    }
    first, second = form.files("image", "image[]")
    assert (first.filename, first.content_type, bytes(first.data)) == ("a.png", "image/png", tricky)
    assert first.data.obj is raw  # a view, not a copy
    assert bytes(second.data) == b"B"
    pieces = forms.with_model(form, "gpt-image-1")
    assert all(isinstance(p, bytes) or p.obj is raw for p in pieces)  # views, not copies
    rewritten = b"".join(pieces)
    assert rewritten.replace(b"gpt-image-1", b"img", 1) == raw
    again = forms.parse(rewritten, kind)
    assert again.field("model") == "gpt-image-1" and bytes(again.files("image[]")[0].data) == tricky
    [whole] = forms.with_model(form, "img")  # nothing to change: the body itself
    assert whole.obj is raw and bytes(whole) == raw
    from_buffer = forms.parse(bytearray(raw), kind)  # the edge's buffer
    assert bytes(from_buffer.files("image[]")[0].data) == tricky
    summary = form.summary()
    assert summary["image[]"] == [
        {"filename": "a.png", "content_type": "image/png", "bytes": len(tricky)},
        {"filename": "b.png", "content_type": "image/png", "bytes": 1},
    ]


@pytest.mark.parametrize(
    ("raw", "kind", "says"),
    [
        (b"{}", "application/json", "multipart/form-data"),
        (b"x", "multipart/form-data", "boundary"),
        (
            b"--zz\r\nContent-Type: text/plain\r\n\r\nx\r\n--zz--\r\n",
            "multipart/form-data; boundary=zz",
            "name",
        ),
        (b"garbage without parts", "multipart/form-data; boundary=zz", "multipart"),
    ],
)
def test_malformed_multipart_is_a_400(raw: bytes, kind: str, says: str):
    with pytest.raises(InvalidRequest) as refused:
        forms.parse(raw, kind)
    assert says in refused.value.message


def test_generation_checks():
    assert images.check_generation({"prompt": "a cat", "n": 3}) == 3
    for body, param in [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "n": 11}, "n"),
        ({"prompt": "x", "n": True}, "n"),
        ({"prompt": "x", "response_format": "png"}, "response_format"),
        ({"prompt": "x", "size": 1024}, "size"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            images.check_generation(body)
        assert refused.value.param == param
    assert images.check_edit({"prompt": "x", "n": "2"}, images=2, masks=1) == 2
    with pytest.raises(InvalidRequest, match="image is required"):
        images.check_edit({"prompt": "x"}, images=0, masks=0)


def test_openai_images_to_gemini_and_back():
    body = images.gemini_body("a fox", "1024x1792", [("image/jpeg", b"\x01\x02")])
    assert body == {
        "contents": [
            {
                "role": "user",
                "parts": [
                    {"text": "a fox"},
                    {"inlineData": {"mimeType": "image/jpeg", "data": "AQI="}},
                ],
            }
        ],
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "9:16"},
        },
    }
    answer = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "here"},
                        {"inlineData": {"mimeType": "image/webp", "data": "AAA="}},
                    ]
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {"promptTokenCount": 7, "candidatesTokenCount": 1290},
    }
    found, text, usage = images.gemini_images(answer)
    assert found == [("image/webp", "AAA=")] and text == "here" and usage == (7, 1290)
    rendered = images.images_answer(found, "url", usage)
    assert rendered["data"] == [{"url": "data:image/webp;base64,AAA="}]
    assert rendered["output_format"] == "webp" and rendered["usage"]["output_tokens"] == 1290
    blocked = {"candidates": [], "promptFeedback": {"blockReason": "SAFETY"}}
    with pytest.raises(Exception, match="SAFETY"):
        images.gemini_images(blocked)


def test_gemini_client_asking_for_an_image():
    body = {
        "contents": [{"role": "user", "parts": [{"text": "an owl"}]}],
        "systemInstruction": {"parts": [{"text": "watercolor"}]},
        "generationConfig": {
            "responseModalities": ["TEXT", "IMAGE"],
            "imageConfig": {"aspectRatio": "16:9"},
        },
    }
    assert images.asks_for_image(body)
    assert not images.asks_for_image({"generationConfig": {"responseModalities": ["TEXT"]}})
    assert images.generation_from_gemini(body, "img") == {
        "model": "img",
        "prompt": "watercolor\n\nan owl",
        "size": "1536x1024",
    }
    assert images.gemini_input_images(body) == []
    png = base64.b64encode(b"png").decode()
    answer = images.gemini_answer(
        {"data": [{"b64_json": png}], "usage": {"input_tokens": 3, "output_tokens": 5}}, "img"
    )
    assert answer["candidates"][0]["content"]["parts"] == [
        {"inlineData": {"mimeType": "image/png", "data": png}}
    ]
    assert answer["usageMetadata"]["totalTokenCount"] == 8


def test_gemini_client_images_to_edit_become_an_edit_form():
    from email.parser import BytesParser
    from email.policy import HTTP

    standard, urlsafe = base64.b64encode(b"\xfb\xffpng").decode(), "-_9wbmc"  # same bytes
    body = {
        "contents": [
            {"role": "user", "parts": [{"text": "add a hat"},
                                       {"inlineData": {"mimeType": "image/png", "data": standard}},
                                       {"inline_data": {"mime_type": "image/jpeg", "data": urlsafe}}]}
        ]
    }  # fmt: skip
    pictures = images.gemini_input_images(body)
    assert pictures == [("image/png", b"\xfb\xffpng"), ("image/jpeg", b"\xfb\xffpng")]
    generation = images.generation_from_gemini(body, "gpt-image-1")
    raw, kind = images.edit_form({**generation, "n": 2}, pictures, "bound")
    assert kind == "multipart/form-data; boundary=bound"
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {kind}\r\n\r\n".encode() + raw)
    parts = [(p.get_param("name", header="content-disposition"), p.get_filename(),
              p.get_content_type(), p.get_payload(decode=True)) for p in message.iter_parts()]  # fmt: skip
    assert parts == [
        ("model", None, "text/plain", b"gpt-image-1"),
        ("prompt", None, "text/plain", b"add a hat"),
        ("n", None, "text/plain", b"2"),
        ("image[]", "image-1.png", "image/png", b"\xfb\xffpng"),
        ("image[]", "image-2.jpeg", "image/jpeg", b"\xfb\xffpng"),
    ]
    one = images.edit_form(generation, pictures[:1], "b")[0]
    assert b'name="image"; filename="image-1.png"' in one
    for part, param in [
        ({"inlineData": {"mimeType": "image/png", "data": "not base64!"}}, "inlineData.data"),
        ({"inlineData": {"mimeType": "image/gif", "data": standard}}, "inlineData.mimeType"),
        ({"fileData": {"fileUri": "gs://b/x.png"}}, "fileData"),
    ]:
        with pytest.raises(InvalidRequest) as refused:
            images.gemini_input_images({"contents": [{"parts": [{"text": "x"}, part]}]})
        assert refused.value.param == f"contents.parts[1].{param}"


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


def test_audio_length_from_headers_or_estimated_never_raises():
    import io
    import wave

    from gateway.codecs.openai_media.audio import file_seconds

    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(b"\x00\x00" * 4000)
    wav = out.getvalue()
    assert file_seconds(wav) == (0.5, "file headers")
    assert file_seconds(memoryview(wav)) == (0.5, "file headers")  # as the form holds it
    for broken in (b"", b"RIFF\x00\x00", wav[:30], b"fLaC\x00", b"OggS" + b"\xff" * 60):
        seconds, source = file_seconds(broken)
        assert source == "estimated from size" and seconds == len(broken) / 16000
