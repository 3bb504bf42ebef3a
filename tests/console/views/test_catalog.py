"""The model catalog browser (``console.views.catalog``): every word of the search in
the vendor/model, a vendor, kind and capability to narrow it (an unknown one ignored),
sorted by any column (cheapest first, the unpriced last; the widest window first), the
media models with their unit price, "Add as route" on the first provider of the model's
vendor, the result cut at ``LIMIT`` but counted, and the results alone for htmx. Media
prices through the page: ``tests/console/test_media_prices.py``."""

from __future__ import annotations

from urllib.parse import parse_qs

import pytest
from django.test import Client

from console.views import catalog as browser
from gateway.catalog import store
from gateway.models import Provider


@pytest.fixture(autouse=True)
def bundled_catalog(settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the bundled catalog, no override
    store.reset()
    yield
    store.reset()


def test_every_word_of_the_search_and_the_filters() -> None:
    found = browser.entries("gpt 4.1 mini", "openai", "chat", "", "model")
    words = ("gpt", "4.1", "mini")
    assert found and all(all(w in e.key.lower() for w in words) for e in found)
    assert {e.vendor for e in found} == {"openai"} and {e.mode for e in found} == {"chat"}
    embeddings = browser.entries("embedding", "", "embedding", "", "model")
    assert embeddings and all(e.mode == "embedding" for e in embeddings)
    vision = browser.entries("", "openai", "chat", "vision", "model")
    assert vision and all(e.has("vision") for e in vision)


def test_the_sorts() -> None:
    cheapest = browser.entries("", "", "", "", "input")  # every kind: some priced per unit
    inputs = [e.input for e in cheapest]
    known = [price for price in inputs if price is not None]
    assert known == sorted(known) and inputs[: len(known)] == known  # the unpriced last
    assert len(known) < len(inputs)
    widest = browser.entries("", "openai", "chat", "", "context")
    windows = [e.context_window or 0 for e in widest]
    assert windows == sorted(windows, reverse=True)
    by_name = browser.entries("", "openai", "chat", "", "bogus")  # an unknown sort: by model
    assert [e.model.lower() for e in by_name] == sorted(e.model.lower() for e in by_name)


def test_media_models_come_with_their_unit_price() -> None:
    listed = dict((e.model, price) for e, price in browser.media_entries())
    assert any(model.startswith("whisper") for model in listed)
    assert all(price.endswith(")") for price in listed.values())  # its source named


@pytest.mark.django_db
def test_add_as_route_on_the_first_provider_of_the_vendor(staff_client: Client) -> None:
    first = Provider.objects.create(name="oa", kind="openai", base_url="https://api.openai.com/v1")
    Provider.objects.create(name="oa2", kind="openai", base_url="https://api.openai.com/v1/")
    Provider.objects.create(name="gpu", kind="openai", base_url="http://gpu-box:8000/v1")
    assert browser.providers_by_vendor() == {"openai": first}
    response = staff_client.get("/catalog/", {"q": "gpt-4.1", "vendor": "openai"})
    rows = response.context["rows"]
    assert rows and all(row["provider"] == first for row in rows)
    add = parse_qs(rows[0]["add"])
    assert add["provider"] == [str(first.pk)] and add["model"] == [rows[0]["entry"].model]
    other = staff_client.get("/catalog/", {"q": "claude", "vendor": "anthropic"}).context
    assert other["rows"] and other["rows"][0]["add"] == ""  # no provider of that vendor yet


@pytest.mark.django_db
def test_the_page_counts_past_its_limit_and_ignores_what_it_does_not_know(
    staff_client: Client, monkeypatch
) -> None:
    monkeypatch.setattr(browser, "LIMIT", 3)
    context = staff_client.get(
        "/catalog/", {"vendor": "nobody", "mode": "odd", "cap": "telepathy", "sort": "input"}
    ).context
    assert (context["vendor"], context["mode"], context["capability"]) == ("", "chat", "")
    assert len(context["rows"]) == 3 and context["count"] > 3
    assert context["sort_links"]["model"] == "mode=chat&sort=model"
    partial = staff_client.get("/catalog/", {"q": "gpt"}, HTTP_HX_REQUEST="true")
    assert b"<html" not in partial.content and partial.status_code == 200
