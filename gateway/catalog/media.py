"""Image and audio models: what each does (its mode) and what it costs per unit.

LiteLLM's file, which the bundled catalog is built from, prices these per image, per
second or per character and the catalog's entries are per token, so they are kept
here by hand, each with its source: OpenAI's pricing page (openai.com/api/pricing and
platform.openai.com/docs/pricing, read 2025-10), Google's Gemini API pricing page
(ai.google.dev/gemini-api/docs/pricing, read 2025-10) and Groq's (groq.com/pricing,
read 2025-10). Token prices are USD per 1M tokens, as in the catalog. A deployment's
own prices (when set) win over the token prices here; its params may add
``price_per_image``, ``price_per_second`` and ``price_per_character`` (USD) for models
this table does not know (a local Whisper or TTS server), and ``mode`` to say what it
serves."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

IMAGE = "image_generation"
TRANSCRIPTION = "audio_transcription"
SPEECH = "audio_speech"
MODES = frozenset({IMAGE, TRANSCRIPTION, SPEECH})


@dataclass(frozen=True, slots=True)
class MediaPrice:
    mode: str
    input: Decimal = Decimal(0)  # per 1M text (or audio) input tokens
    output: Decimal = Decimal(0)  # per 1M output tokens (image or audio)
    per_image: dict[str, Decimal] = field(default_factory=dict)  # "quality/size" | "size"
    per_second: Decimal | None = None  # of audio in (transcription)
    per_character: Decimal | None = None  # of text in (speech)
    source: str = ""
    vendor: str = "openai"  # the catalog provider key whose models these are


D = Decimal
OPENAI = "openai.com/api/pricing (2025-10)"
MEDIA: dict[str, MediaPrice] = {
    "gpt-image-1": MediaPrice(IMAGE, D(5), D(40), source=OPENAI),
    "gpt-image-1-mini": MediaPrice(IMAGE, D(2), D(8), source=OPENAI),
    "dall-e-3": MediaPrice(
        IMAGE,
        per_image={
            "standard/1024x1024": D("0.04"),
            "standard/1024x1792": D("0.08"),
            "standard/1792x1024": D("0.08"),
            "hd/1024x1024": D("0.08"),
            "hd/1024x1792": D("0.12"),
            "hd/1792x1024": D("0.12"),
        },
        source=OPENAI,
    ),
    "dall-e-2": MediaPrice(
        IMAGE,
        per_image={"256x256": D("0.016"), "512x512": D("0.018"), "1024x1024": D("0.02")},
        source=OPENAI,
    ),
    # Gemini image output: $30 per 1M tokens (1290 tokens a 1024px image: $0.039)
    "gemini-2.5-flash-image": MediaPrice(
        IMAGE,
        D("0.3"),
        D(30),
        source="ai.google.dev/gemini-api/docs/pricing (2025-10)",
        vendor="gemini",
    ),
    "whisper-1": MediaPrice(TRANSCRIPTION, per_second=D("0.0001"), source=OPENAI),  # $0.006/min
    "gpt-4o-transcribe": MediaPrice(
        TRANSCRIPTION, D(6), D(10), per_second=D("0.0001"), source=OPENAI
    ),
    "gpt-4o-mini-transcribe": MediaPrice(
        TRANSCRIPTION, D(3), D(5), per_second=D("0.00005"), source=OPENAI
    ),
    "whisper-large-v3": MediaPrice(  # Groq: $0.111 an hour
        TRANSCRIPTION,
        per_second=D("0.00003083"),
        source="groq.com/pricing (2025-10)",
        vendor="groq",
    ),
    "whisper-large-v3-turbo": MediaPrice(  # Groq: $0.04 an hour
        TRANSCRIPTION,
        per_second=D("0.00001111"),
        source="groq.com/pricing (2025-10)",
        vendor="groq",
    ),
    "tts-1": MediaPrice(SPEECH, per_character=D("0.000015"), source=OPENAI),  # $15 / 1M chars
    "tts-1-hd": MediaPrice(SPEECH, per_character=D("0.00003"), source=OPENAI),  # $30 / 1M
    "gpt-4o-mini-tts": MediaPrice(SPEECH, D("0.6"), D(12), source=OPENAI),
}
# Realtime sessions priced by the duration of their audio (USD per second; the pages
# quote it per minute), for the transcription and translation sessions the Realtime
# relay serves (gateway.core.realtime): each model's page at developers.openai.com/api/
# docs/models/<model> ("Realtime audio duration", read 2026-11).
OPENAI_MODELS = "developers.openai.com/api/docs/models (2026-11)"
REALTIME_PER_SECOND: dict[str, tuple[Decimal, str]] = {
    "gpt-realtime-translate": (D("0.034") / 60, OPENAI_MODELS),  # $0.034 a minute
    "gpt-realtime-whisper": (D("0.017") / 60, OPENAI_MODELS),  # $0.017 a minute
    "gpt-live-transcribe": (D("0.017") / 60, OPENAI_MODELS),  # $0.017 a minute
}
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$|-\d{8}$|-preview(-\d{2}-\d{4})?$")
# What a model's name says it does, for models neither this table nor the catalog knows.
_NAMED = (
    (re.compile(r"gpt-image|dall-e|imagen|-image\b|flux|stable-diffusion|sdxl"), IMAGE),
    (re.compile(r"whisper|transcribe|speech-to-text|\bstt\b|parakeet"), TRANSCRIPTION),
    (re.compile(r"tts|text-to-speech|kokoro|orpheus|playai"), SPEECH),
)


def price_of(model: str) -> MediaPrice | None:
    """The table's entry for ``model`` (a provider prefix and a date suffix ignored)."""
    name = model.rsplit("/", 1)[-1].lower()
    found = MEDIA.get(name)
    if found is None:
        found = MEDIA.get(_DATED.sub("", name))
    return found


def session_per_second(model: str) -> Decimal | None:
    """USD per second of a realtime session's audio for ``model`` (a provider prefix and
    a date suffix ignored): ``REALTIME_PER_SECOND``'s, else a transcription model's
    per-second price (``MEDIA``); None: not priced by duration."""
    name = model.rsplit("/", 1)[-1].lower()
    for each in (name, _DATED.sub("", name)):
        if each in REALTIME_PER_SECOND:
            return REALTIME_PER_SECOND[each][0]
    table = price_of(model)
    return table.per_second if table is not None else None


def mode_of(model: str, params: dict[str, Any], catalog_mode: str | None) -> str:
    """What a deployment serves: its params' ``mode`` when it declares one, else this
    table's, else the catalog's, else what the model's name says; ``chat`` otherwise."""
    declared = params.get("mode")
    if isinstance(declared, str) and declared:
        return declared
    price = price_of(model)
    if price is not None:
        return price.mode
    if catalog_mode is not None:
        return catalog_mode
    name = model.lower()
    for pattern, mode in _NAMED:
        if pattern.search(name):
            return mode
    return "chat"


def image_price(price: MediaPrice | None, size: str | None, quality: str | None) -> Decimal | None:
    """USD per image at ``size`` and ``quality`` (None: priced by tokens, or unknown)."""
    if price is None or not price.per_image:
        return None
    size = size if size and size != "auto" else "1024x1024"
    quality = quality if quality in ("hd", "standard") else "standard"
    table = price.per_image
    return table.get(f"{quality}/{size}", table.get(size))


# mode -> (the deployment param that sets its unit price, the unit)
UNITS = {
    IMAGE: ("price_per_image", "image"),
    TRANSCRIPTION: ("price_per_second", "second"),
    SPEECH: ("price_per_character", "character"),
}
SET_ON_DEPLOYMENT = "set on the deployment"


def _usd(value: Decimal) -> str:
    text = f"{value.normalize():f}"
    return "$" + text


def unit_text(price: MediaPrice) -> str | None:
    """The table's per-unit price of a model as a sentence ("$0.04-$0.12 per image (by
    size and quality)", "$0.0001 per second"); None when it is priced by tokens."""
    if price.per_image:
        low, high = min(price.per_image.values()), max(price.per_image.values())
        if low == high:
            return f"{_usd(low)} per image"
        by = "size and quality" if any("/" in k for k in price.per_image) else "size"
        return f"{_usd(low)}-{_usd(high)} per image (by {by})"
    if price.per_second is not None:
        minute = Decimal(f"{price.per_second * 60:.3g}")
        return f"{_usd(price.per_second)} per second ({_usd(minute)} a minute)"
    if price.per_character is not None:
        return f"{_usd(price.per_character)} per character"
    return None


def token_text(price: MediaPrice) -> str | None:
    if not (price.input or price.output):
        return None
    return f"{_usd(price.input)} in / {_usd(price.output)} out per 1M tokens"


def in_force(
    model: str,
    params: dict[str, Any],
    catalog_mode: str | None,
    own_tokens: tuple[Decimal | None, Decimal | None] = (None, None),
) -> dict[str, Any] | None:
    """What a media deployment is charged, for the console and API: ``mode``, ``param``
    (its unit-price param), ``unit``, ``text`` (the prices in force, per unit and/or per
    token) and ``source``; ``priced`` False when nothing prices it. None for a model
    that serves chat (or anything but images and audio). ``own_tokens``: the
    deployment's own input and output prices per 1M tokens (they win over the
    table's). A transcription model with both is charged by tokens when its answer
    reports them, else per second."""
    mode = mode_of(model, params, catalog_mode)
    if mode not in UNITS:
        return None
    param, unit = UNITS[mode]
    table = price_of(model)
    texts: list[str] = []
    sources: list[str] = []
    own = params.get(param)
    if own not in (None, ""):
        texts.append(f"{_usd(Decimal(str(own)))} per {unit}")
        sources.append(SET_ON_DEPLOYMENT)
    elif table is not None and (per_unit := unit_text(table)) is not None:
        texts.append(per_unit)
        sources.append(table.source)
    if any(p is not None for p in own_tokens):
        given = [p or Decimal(0) for p in own_tokens]
        texts.append(f"{_usd(given[0])} in / {_usd(given[1])} out per 1M tokens")
        sources.append("token prices " + SET_ON_DEPLOYMENT)
    elif table is not None and (tokens := token_text(table)) is not None:
        texts.append(tokens)
        if table.source not in sources:
            sources.append(table.source)
    return {
        "mode": mode,
        "param": param,
        "unit": unit,
        "text": " · ".join(texts) if texts else f"no price: set a price per {unit}",
        "source": "; ".join(sources) if sources else "unpriced (counted as $0)",
        "priced": bool(texts),
    }


def listing() -> list[tuple[str, str, MediaPrice]]:
    """(vendor, model, price) of every model this table prices, for the catalog browser."""
    return [(price.vendor, model, price) for model, price in MEDIA.items()]
