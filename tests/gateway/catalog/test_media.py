"""What an image or audio deployment serves and costs (``gateway.catalog.media``)."""

from __future__ import annotations

from decimal import Decimal

from gateway.catalog import media


def test_mode_declared_then_table_then_catalog_then_name():
    assert media.mode_of("my-model", {"mode": "audio_speech"}, "chat") == "audio_speech"
    assert media.mode_of("openai/dall-e-3", {}, None) == media.IMAGE
    assert media.mode_of("whisper-1", {}, "chat") == media.TRANSCRIPTION  # the table wins
    assert media.mode_of("gpt-4o-mini-tts-2025-03-20", {}, None) == media.SPEECH  # dated
    assert media.mode_of("gpt-4o", {}, "chat") == "chat"
    assert media.mode_of("text-embedding-3-small", {}, "embedding") == "embedding"
    assert media.mode_of("Systran/faster-whisper-small", {}, None) == media.TRANSCRIPTION
    assert media.mode_of("hexgrad/Kokoro-82M-tts", {}, None) == media.SPEECH
    assert media.mode_of("black-forest-labs/flux-schnell", {}, None) == media.IMAGE
    assert media.mode_of("llama-3.1-8b", {}, None) == "chat"


def test_image_prices_by_quality_and_size():
    dalle3 = media.price_of("dall-e-3")
    assert media.image_price(dalle3, "1024x1024", None) == Decimal("0.04")
    assert media.image_price(dalle3, "1792x1024", "hd") == Decimal("0.12")
    assert media.image_price(dalle3, "auto", "standard") == Decimal("0.04")
    assert media.image_price(media.price_of("dall-e-2"), "256x256", None) == Decimal("0.016")
    assert media.image_price(media.price_of("gpt-image-1"), "1024x1024", "high") is None  # tokens
    assert media.image_price(None, "1024x1024", None) is None
