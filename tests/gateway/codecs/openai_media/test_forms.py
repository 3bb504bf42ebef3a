"""Multipart forms of the media endpoints (``gateway.codecs.openai_media.forms``): parts
are views of the body, and only the model is rewritten."""

from __future__ import annotations

import httpx

from gateway.codecs.openai_media import forms


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
