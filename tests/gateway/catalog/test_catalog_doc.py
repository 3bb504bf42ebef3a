"""docs/catalog.md lists the models the README names with their vendors' published
windows and prices and where they were read: the bundled catalog gives exactly those."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from gateway.catalog import entry_for
from gateway.providers.kinds import catalog_vendor

DOC = Path(__file__).resolve().parents[3] / "docs" / "catalog.md"


def rows() -> list[list[str]]:
    lines = [ln for ln in DOC.read_text().splitlines() if ln.startswith("| ")]
    cells = [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]
    return [c for c in cells if c[0] not in ("kind", "---")]


def test_the_doc_lists_the_models_the_readme_names() -> None:
    listed = {(r[0], r[2]) for r in rows()}
    for wanted in [
        ("openai", "gpt-4o"),
        ("anthropic", "claude-sonnet-4-20250514"),
        ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0"),
        ("bedrock", "amazon.nova-pro-v1:0"),
        ("gemini", "gemini-2.5-pro"),
        ("vertex_ai", "gemini-2.5-flash"),
        ("cohere", "command-a-03-2025"),
        ("openai_responses", "o3-pro"),
    ]:
        assert wanted in listed
    assert all(r[6] for r in rows()), "every row names its source"


@pytest.mark.parametrize("row", rows(), ids=lambda r: f"{r[0]}:{r[2]}")
def test_the_catalog_gives_the_documented_figures(row: list[str]) -> None:
    kind, base_url, model, window, price_in, price_out, _source = row
    entry = entry_for(catalog_vendor(kind), base_url, model)
    assert entry is not None, model
    assert entry.context_window == int(window)
    assert (entry.input, entry.output) == (Decimal(price_in), Decimal(price_out))
