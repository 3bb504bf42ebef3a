"""What a deployment sets wins; the catalog fills the rest; each figure has a source."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from gateway import catalog
from gateway.catalog.resolve import SET_ON_DEPLOYMENT

GPT4O = catalog.Entry(
    vendor="openai",
    model="gpt-4o",
    input=Decimal("2.5"),
    output=Decimal("10"),
    cache_read=Decimal("1.25"),
    context_window=128_000,
    max_output_tokens=16_384,
    caps=frozenset({"tools", "vision"}),
    as_of="2026-07-24",
)


def row(**fields):
    base = dict.fromkeys(
        (
            "input_price",
            "output_price",
            "cache_read_price",
            "cache_write_price",
            "context_window",
            "max_output_tokens",
            "supports_tools",
            "supports_vision",
            "supports_reasoning",
        )
    )
    return SimpleNamespace(**{**base, **fields})


def test_empty_fields_take_the_catalog_and_say_so():
    figures = catalog.resolve(row(), GPT4O)
    assert (figures.input_price, figures.output_price, figures.cache_read_price) == (
        Decimal("2.5"),
        Decimal("10"),
        Decimal("1.25"),
    )
    # OpenAI prices no cache writes apart: they are input tokens
    assert figures.cache_write_price == Decimal("2.5")
    assert figures.context_window == 128_000 and figures.max_output_tokens == 16_384
    assert figures.supports_tools and figures.supports_vision and not figures.supports_reasoning
    assert figures.sources["input_price"] == "catalog 2026-07-24"
    assert figures.sources["supports_reasoning"] == "catalog 2026-07-24"


def test_what_the_deployment_sets_wins_including_zero():
    figures = catalog.resolve(
        row(input_price=Decimal(0), max_output_tokens=4096, supports_vision=False), GPT4O
    )
    assert figures.input_price == Decimal(0)
    assert figures.sources["input_price"] == SET_ON_DEPLOYMENT
    assert figures.output_price == Decimal("10")
    assert figures.max_output_tokens == 4096
    assert figures.supports_vision is False
    assert figures.sources["supports_vision"] == SET_ON_DEPLOYMENT


def test_without_an_entry_the_old_defaults_hold():
    figures = catalog.resolve(row(output_price=Decimal("3")), None)
    assert figures.input_price == Decimal(0) and figures.sources["input_price"] == "not set"
    assert figures.output_price == Decimal("3")
    assert figures.cache_read_price == Decimal(0)  # no catalog: nothing to fall back on
    assert figures.context_window is None
    assert (figures.supports_tools, figures.supports_vision, figures.supports_reasoning) == (
        True,
        True,
        False,
    )


RERANK = catalog.Entry(vendor="cohere", model="rerank-v3.5", search_unit=Decimal("0.002"))


def test_a_search_unit_price_comes_from_the_deployment_else_the_catalog():
    assert catalog.resolve(row(), RERANK).search_unit_price == Decimal("0.002")
    own = catalog.resolve(row(search_unit_price=Decimal("0.01")), RERANK)
    assert own.search_unit_price == Decimal("0.01")
    assert own.sources["search_unit_price"] == SET_ON_DEPLOYMENT
    # a deployment that prices its tokens itself is priced by them, not the catalog's units
    tokens = catalog.resolve(row(input_price=Decimal("2")), RERANK)
    assert tokens.search_unit_price is None
    assert catalog.resolve(row(), None).search_unit_price is None


def test_the_shipped_catalog_prices_rerank_units_and_realtime_audio():
    shipped = catalog.load()
    cohere = shipped.get("cohere", "rerank-v3.5")
    bedrock = shipped.get("bedrock", "cohere.rerank-v3-5:0")
    amazon = shipped.get("bedrock", "amazon.rerank-v1:0")
    assert cohere is not None and cohere.search_unit == Decimal("0.002")
    assert bedrock is not None and bedrock.search_unit == Decimal("0.002")
    assert amazon is not None and amazon.search_unit == Decimal("0.001")
    realtime = shipped.get("openai", "gpt-realtime")
    assert realtime is not None
    assert (realtime.input, realtime.audio_input, realtime.audio_output) == (4, 32, 64)
    assert catalog.Entry.to_json(realtime)["audio_input"] == 32  # round-trips the file
