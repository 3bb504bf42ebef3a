"""A realtime session's usage and price: tokens summed from every ``response.done`` by
modality (cached ones taken off their own modality, or text first when not said), audio
and images at their own prices, a transcription's tokens at the catalog's transcription
prices when the deployment has none, and seconds of audio priced only where a price per
second is known."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.core import realtime
from tests.gateway.edge.test_realtime_audio_sessions import TOKENS
from tests.gateway.entries import deployment
from tests.integration.mock_realtime import USAGE


def test_usage_sums_every_response_and_prices_audio_apart() -> None:
    usage = realtime.RealtimeUsage()
    usage.add(USAGE)
    usage.add({"input_tokens": 10, "output_tokens": 5})  # no details: text
    assert usage.responses == 2
    assert (usage.input_tokens, usage.output_tokens, usage.cached_in) == (1110, 255, 64)
    journaled = usage.as_usage()
    assert (journaled.input_tokens, journaled.cache_read_tokens) == (1110 - 64, 64)
    prices = deployment(
        "rt",
        "gpt-realtime",
        input_price=Decimal(4),
        output_price=Decimal(16),
        cache_read_price=Decimal("0.4"),
        audio_input_price=Decimal(32),
        audio_output_price=Decimal(64),
    )
    text_in, audio_in, cached, text_out, audio_out = 100 + 10 - 32, 1000 - 32, 64, 55, 200
    expected = (  # cached audio at the cache-read price, as the deployment has no other
        text_in * 4 + audio_in * 32 + cached * Decimal("0.4") + text_out * 16 + audio_out * 64
    ) / Decimal(1_000_000)
    assert realtime.cost(prices, usage) == expected
    # without audio prices (not in the catalog) audio costs what text does
    plain = deployment("rt", "m", input_price=Decimal(1), output_price=Decimal(2),
                       cache_read_price=Decimal(1))  # fmt: skip
    assert realtime.cost(plain, usage) == Decimal(1110 + 255 * 2) / Decimal(1_000_000)


def from_catalog(model: str) -> Any:
    """A deployment of ``model`` priced by the shipped catalog alone."""
    from gateway import catalog

    entry = catalog.load().get("openai", model)
    assert entry is not None
    return deployment(
        "rt", model, input_price=entry.input, output_price=entry.output,
        cache_read_price=entry.cache_read, audio_input_price=entry.audio_input,
        audio_output_price=entry.audio_output, audio_cache_read_price=entry.audio_cache_read,
        image_input_price=entry.image_input, image_cache_read_price=entry.image_cache_read,
    )  # fmt: skip


def test_cached_audio_and_images_are_priced_at_their_own_prices() -> None:
    """gpt-realtime-mini per 1M (OpenAI's model page): text 0.60 / cached 0.06 / out
    2.40, audio 10 / cached 0.30 / out 20, image 0.80 / cached 0.08."""
    usage = realtime.RealtimeUsage()
    usage.add({
        "input_tokens": 3000, "output_tokens": 300,
        "input_token_details": {
            "text_tokens": 500, "audio_tokens": 2000, "image_tokens": 500,
            "cached_tokens": 1700,
            "cached_tokens_details": {"text_tokens": 400, "audio_tokens": 1000,
                                      "image_tokens": 300},
        },
        "output_token_details": {"text_tokens": 100, "audio_tokens": 200},
    })  # fmt: skip
    assert (usage.cached_text, usage.cached_audio, usage.cached_image) == (400, 1000, 300)
    assert usage.as_usage().cache_read_tokens == 1700
    expected = (
        100 * Decimal("0.6") + 400 * Decimal("0.06")  # text
        + 1000 * 10 + 1000 * Decimal("0.3")  # audio: cached at 0.30, not 0.06
        + 200 * Decimal("0.8") + 300 * Decimal("0.08")  # images
        + 100 * Decimal("2.4") + 200 * 20
    ) / Decimal(1_000_000)  # fmt: skip
    assert realtime.cost(from_catalog("gpt-realtime-mini"), usage) == expected
    # gpt-4o-realtime-preview has no image prices: its images cost what text does
    old = from_catalog("gpt-4o-realtime-preview")
    assert old.image_input_price is None and old.audio_cache_read_price == Decimal("2.5")
    expected_old = (
        100 * 5 + 400 * Decimal("2.5") + 1000 * 40 + 1000 * Decimal("2.5")
        + 200 * 5 + 300 * Decimal("2.5") + 100 * 20 + 200 * 80
    ) / Decimal(1_000_000)  # fmt: skip
    assert realtime.cost(old, usage) == expected_old


def test_cached_tokens_without_their_details_come_off_text_first() -> None:
    usage = realtime.RealtimeUsage()
    usage.add({"input_tokens": 1000, "output_tokens": 0, "input_token_details": {
        "text_tokens": 100, "audio_tokens": 900, "cached_tokens": 300}})  # fmt: skip
    assert (usage.cached_text, usage.cached_audio, usage.cached_image) == (100, 200, 0)
    priced = from_catalog("gpt-realtime")  # text 4 / 0.4, audio 32 / 0.4
    expected = (100 * Decimal("0.4") + 700 * 32 + 200 * Decimal("0.4")) / Decimal(1_000_000)
    assert realtime.cost(priced, usage) == expected


def test_seconds_without_a_price_per_second_are_journaled_unpriced() -> None:
    usage = realtime.RealtimeUsage()
    usage.add_audio(1.5)
    nameless = deployment("x", "my-local-translator")
    assert realtime.per_second(nameless) is None
    assert realtime.cost(nameless, usage) == 0  # journaled (summary), not priced
    own = deployment("x", "my-local-translator", params={"price_per_second": "0.001"})
    assert realtime.cost(own, usage) == Decimal("0.0015")  # the deployment's own price
    unset = deployment("x", "gpt-realtime-translate", params={"price_per_second": ""})
    assert realtime.per_second(unset) == Decimal("0.034") / 60  # the catalog's


def test_a_transcription_model_without_token_prices_takes_the_catalogs() -> None:
    """gpt-4o-transcribe's tokens at catalog.media's $6 in / $10 out per 1M, as
    ``/v1/audio/transcriptions`` prices them, when the deployment has no prices."""
    usage = realtime.RealtimeUsage()
    usage.add_transcription(TOKENS["usage"])
    bare = deployment("x", "gpt-4o-transcribe")
    assert realtime.cost(bare, usage) == Decimal(38 * 6 + 10 * 10) / 10**6
    own = deployment("x", "gpt-4o-transcribe", input_price=Decimal(1), output_price=Decimal(2))
    assert realtime.cost(own, usage) == Decimal(38 * 1 + 10 * 2) / 10**6


def test_a_transcriptions_usage_by_tokens_or_by_duration() -> None:
    usage = realtime.RealtimeUsage()
    usage.add_transcription(
        {
            "type": "tokens",
            "input_tokens": 30,
            "input_token_details": {"audio_tokens": 50},
            "output_tokens": 7,
        }
    )
    assert (usage.audio_in, usage.text_in, usage.text_out) == (30, 0, 7)  # audio within the input
    usage.add_transcription({"type": "duration", "seconds": 2.5})
    usage.add_transcription({"type": "duration", "seconds": True})  # not a number: no seconds
    assert usage.transcriptions == 3 and usage.audio_seconds == 2.5
    assert usage.audio_seconds_from == "upstream"
    usage.add_audio(1.25)
    assert usage.audio_seconds == 3.75 and usage.audio_seconds_from == "measured"


def test_the_journals_view_keeps_cached_input_apart() -> None:
    usage = realtime.RealtimeUsage()
    usage.add(
        {
            "input_tokens": 100,
            "output_tokens": 20,
            "input_token_details": {"audio_tokens": 60, "cached_tokens": 50},
            "output_token_details": {"text_tokens": 5, "audio_tokens": 15},
        }
    )
    got = usage.as_usage()
    assert (got.input_tokens, got.cache_read_tokens, got.output_tokens) == (50, 50, 20)
    assert (usage.cached_text, usage.cached_audio) == (40, 10)


@pytest.mark.parametrize(("price", "expected"), [("0.0001", Decimal("0.0001")), ("lots", None)])
def test_a_deployments_own_price_per_second(price, expected) -> None:
    priced = deployment("r", "some-unknown-model", params={"price_per_second": price})
    assert realtime.per_second(priced) == expected
