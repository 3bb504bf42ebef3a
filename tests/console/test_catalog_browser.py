"""The catalog browser: search and filter the catalog's models, sort to compare, and
"Add as route" leading through the route form to a deployment form with the model."""

from __future__ import annotations

import re

from django.test import Client

from gateway import catalog
from gateway.models import Provider, Route


def models_shown(html: str) -> list[str]:
    return re.findall(r'<td class="mono model-name">([^<]+)</td>', html)


def test_search_words_filter_and_sort(staff_client: Client, db) -> None:
    html = staff_client.get("/catalog/", {"q": "claude sonnet"}).content.decode()
    shown = models_shown(html)
    assert shown and all("claude" in m and "sonnet" in m for m in shown)
    by_price = models_shown(
        staff_client.get(
            "/catalog/", {"q": "gpt", "vendor": "openai", "sort": "input"}
        ).content.decode()
    )
    prices = [catalog.load().get("openai", m).input for m in by_price]
    known = [p for p in prices if p is not None]
    assert known == sorted(known) and len(known) > 3
    vision = staff_client.get("/catalog/", {"cap": "vision", "q": "gemini"}).content.decode()
    assert all(
        catalog.load().get("gemini", m) is None or catalog.load().get("gemini", m).has("vision")
        for m in models_shown(vision)
    )
    none = staff_client.get("/catalog/", {"q": "no-such-model-anywhere"}).content.decode()
    assert "No model in the catalog matches" in none


def test_htmx_gets_the_results_only(staff_client: Client, db) -> None:
    html = staff_client.get("/catalog/", {"q": "gpt-4o"}, HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith('<section id="catalog-results"')


def test_add_as_route_leads_to_a_deployment_of_that_model(staff_client: Client, db) -> None:
    openai = Provider.objects.create(name="oa", kind="openai", base_url="https://api.openai.com/v1")
    html = staff_client.get("/catalog/", {"q": "gpt-4o-mini", "vendor": "openai"}).content.decode()
    assert "Add as route" in html
    link = (
        re.search(r'href="(/routes/new/\?[^"]*model=gpt-4o-mini[^"]*)"', html)
        .group(1)
        .replace("&amp;", "&")
    )
    form = staff_client.get(link).content.decode()
    assert 'value="gpt-4o-mini"' in form and 'name="model"' in form
    response = staff_client.post(
        "/routes/new/",
        {
            "name": "gpt-4o-mini",
            "strategy": "weighted",
            "max_attempts": 3,
            "model": "gpt-4o-mini",
            "provider": openai.pk,
        },
    )
    route = Route.objects.get(name="gpt-4o-mini")
    assert (
        response["Location"]
        == f"/routes/{route.pk}/deployments/new/?model=gpt-4o-mini&provider={openai.pk}"
    )
    page = staff_client.get(response["Location"]).content.decode()
    assert re.search(r'<input[^>]*name="model"[^>]*value="gpt-4o-mini"', page)
    assert re.search(rf'<option value="{openai.pk}" selected>', page)


def test_a_vendor_without_a_provider_offers_adding_one(staff_client: Client, db) -> None:
    html = staff_client.get("/catalog/", {"q": "claude", "vendor": "anthropic"}).content.decode()
    assert "Add a provider</a>" in html and "Add as route</a>" not in html
