"""The user's override (data/catalog.json) is layered over the bundled catalog."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from gateway import catalog
from gateway.catalog import CatalogError, store
from gateway.providers.kinds import catalog_vendor


def write_override(path, models: dict, updated: str = "2027-01-02") -> None:
    path.write_text(
        json.dumps(
            {
                "schema": 1,
                "updated": updated,
                "providers": {"openai": {"name": "OpenAI", "source": "mine", "models": models}},
            }
        )
    )


def test_an_override_replaces_one_model_and_keeps_the_rest(settings):
    bundled_mini = catalog.entry_for(
        catalog_vendor("openai"), "https://api.openai.com/v1", "gpt-4o-mini"
    )
    write_override(settings.DATA_DIR / "catalog.json", {"gpt-4o": {"input": 1, "output": 4}})
    store.reset()
    loaded = catalog.load()
    assert loaded.overridden and loaded.updated == "2027-01-02"
    gpt4o = loaded.get("openai", "gpt-4o")
    assert (gpt4o.input, gpt4o.output, gpt4o.as_of) == (Decimal(1), Decimal(4), "2027-01-02")
    assert loaded.get("openai", "gpt-4o-mini") == bundled_mini
    # the bundled aliases still lead to the (overridden) base entry
    assert loaded.get("openai", "gpt-4o-2024-08-06").input == Decimal(1)


def test_a_changed_override_is_read_again_without_a_restart(settings):
    path = settings.DATA_DIR / "catalog.json"
    write_override(path, {"gpt-4o": {"input": 1, "output": 4}})
    assert catalog.load().get("openai", "gpt-4o").input == Decimal(1)
    write_override(path, {"gpt-4o": {"input": 3, "output": 4}})
    import os

    stat = path.stat()
    os.utime(path, (stat.st_atime, stat.st_mtime + 5))
    assert catalog.load().get("openai", "gpt-4o").input == Decimal(3)


def test_a_broken_override_is_ignored_and_the_bundle_still_serves(settings, caplog):
    (settings.DATA_DIR / "catalog.json").write_text("{not json")
    store.reset()
    loaded = catalog.load()
    assert not loaded.overridden
    assert loaded.get("openai", "gpt-4o").input == Decimal("2.5")
    assert "catalog override ignored" in caplog.text


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"models": {}}, "expected an object with 'providers'"),
        ({"schema": 9, "providers": {}}, "unsupported catalog schema"),
        ({"providers": {"x": {"models": {"m": {"input": -1}}}}}, "providers.x.models.m.input"),
        ({"providers": {"x": {"models": {"m": {"caps": ["telepathy"]}}}}}, "telepathy"),
        ({"providers": {"x": {"models": {"m": {"context": 0}}}}}, "positive whole number"),
        ({"providers": {"x": {"models": {"m": {"colour": "red"}}}}}, "unknown field colour"),
    ],
)
def test_malformed_files_are_refused_with_the_place(data, message):
    with pytest.raises(CatalogError, match=message):
        store.parse(data)


def test_equal_prices_and_name_sets_of_the_entries_are_one_object_each() -> None:
    """The bundled catalog holds a few hundred values of prices and capability sets for
    its thousands (every worker keeps it): each equal value is one object, read as it was."""
    store.reset()
    entries = store.load().all()
    sets = [names for entry in entries for names in (entry.caps, entry.rejects)]
    prices = [entry.input for entry in entries if entry.input is not None]
    assert len({id(names) for names in sets}) == len(set(sets))
    assert len({id(price) for price in prices}) == len({str(price) for price in prices})
    assert len(set(sets)) < len(sets) / 5 and len(set(prices)) < len(prices) / 2
    parsed = store.parse({"providers": {"v": {"models": {"m": {"input": "2.50", "caps": []}}}}})
    entry = parsed.get("v", "m")
    assert entry is not None and entry.input == Decimal("2.5") and str(entry.input) == "2.5"
    assert entry.caps == frozenset() and entry.rejects is entry.caps
