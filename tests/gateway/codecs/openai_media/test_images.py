"""The media codec (``gateway.codecs.openai_media``): multipart bodies read as views of
the body and rewritten only in the model field, image requests checked and translated
to and from Gemini's image output, audio requests checked and their usage read."""

from __future__ import annotations

import base64

import pytest

from gateway.base.errors import InvalidRequest
from gateway.codecs.openai_media import forms, images


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
