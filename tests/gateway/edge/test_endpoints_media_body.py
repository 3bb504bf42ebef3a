"""The edge's reader of media uploads (``endpoints.read_body_once``): one buffer, filled
as the body arrives, sized by Content-Length when there is one; None past the cap;
and each media endpoint's cap (``body_caps.api_body_cap``)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.edge import body_caps, endpoints


def receiver(*chunks: bytes):  # type: ignore[no-untyped-def]
    messages = [
        {"type": "http.request", "body": chunk, "more_body": i < len(chunks) - 1}
        for i, chunk in enumerate(chunks)
    ]

    async def receive():  # type: ignore[no-untyped-def]
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    return receive


@pytest.mark.parametrize("declared", [11, None])
def test_the_body_lands_in_one_buffer(declared: int | None):
    body = asyncio.run(endpoints.read_body_once(receiver(b"hello", b" ", b"world"), 100, declared))
    assert isinstance(body, bytearray) and body == b"hello world"


def test_a_body_shorter_than_declared_is_cut_to_its_length():
    body = asyncio.run(endpoints.read_body_once(receiver(b"abc"), 100, 10))
    assert body == b"abc"


def test_past_the_cap_or_the_declared_length_is_refused():
    assert asyncio.run(endpoints.read_body_once(receiver(b"x" * 60, b"x" * 60), 100, None)) is None
    assert asyncio.run(endpoints.read_body_once(receiver(b"x" * 20), 100, 10)) is None


def test_a_client_gone_mid_upload_cancels():
    async def gone():  # type: ignore[no-untyped-def]
        return {"type": "http.disconnect"}

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(endpoints.read_body_once(gone, 100, 10))


def test_audio_endpoints_take_25_mb_and_the_rest_the_api_cap(settings):  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_MAX_BODY_BYTES = 1234
    assert body_caps.api_body_cap("transcription") == body_caps.AUDIO_BODY_CAP
    assert body_caps.api_body_cap("translation") > 25 * 1024 * 1024
    assert body_caps.api_body_cap("image_edit") == 1234
    assert body_caps.api_body_cap("chat") == 1234
    assert "25 MB" in body_caps.too_large("transcription", body_caps.AUDIO_BODY_CAP)
