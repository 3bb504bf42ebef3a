"""The console shows where each deployment figure comes from, the catalog's date, and
a model picker that merges the provider's own list with the catalog."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
import pytest
from django.test import Client

from console import model_picker
from gateway.base import http
from gateway.catalog import store
from gateway.models import Deployment, Provider, Route


@pytest.fixture
def openai_rows(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the bundled catalog, no override
    store.reset()
    model_picker._live.clear()
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="smart")
    catalogued = Deployment.objects.create(route=route, provider=provider, model="gpt-4o")
    priced = Deployment.objects.create(
        route=route, provider=provider, model="gpt-4o-mini", input_price=Decimal("0.2")
    )
    yield provider, route, catalogued, priced
    store.reset()


def test_the_routes_page_shows_catalog_figures_with_units_and_sources(
    staff_client: Client, openai_rows
):
    html = staff_client.get("/routes/").content.decode()
    date = store.load().updated
    assert f"prices as of {date}" in html
    row = html[html.index('id="deployment-') :]
    assert '$2.5 in / $10 out per 1M tokens <small class="muted">(catalog openai/gpt-4o)' in row
    assert "128.0k tokens context" in row
    assert (
        '$0.2 in / $0.6 out per 1M tokens <small class="muted">'
        "(input custom price, output catalog openai/gpt-4o-mini)" in row
    )


def test_the_edit_form_says_what_an_empty_field_means(staff_client: Client, openai_rows):
    _, _, catalogued, _ = openai_rows
    html = staff_client.get(f"/deployments/{catalogued.pk}/").content.decode()
    date = store.load().updated
    assert f"in force: $2.5 per 1M tokens (catalog {date})" in html
    assert f"in force: 128,000 tokens (catalog {date})" in html
    assert "Input ($ per 1M tokens)" in html
    # the model field is a picker: a datalist of the catalog's models with price and context
    assert f'list="models-d{catalogued.pk}"' in html
    option = re.search(r'<option value="gpt-4o" label="([^"]+)"', html)
    assert option and option.group(1) == "$2.5 in / $10 out per 1M tokens · 128k context"


def test_the_picker_merges_the_providers_own_list_with_the_catalog(
    staff_client: Client, openai_rows
):
    provider = openai_rows[0]
    asked: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return httpx.Response(200, json={"data": [{"id": "gpt-4o"}, {"id": "ft:gpt-4o:acme"}]})

    http.use_transport(httpx.MockTransport(upstream))
    url = f"/deployments/models/?provider={provider.pk}&list=models-r1-new"
    html = staff_client.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert asked == ["/v1/models"]
    assert html.strip().startswith('<datalist id="models-r1-new">')
    values = re.findall(r'<option value="([^"]+)" label="([^"]+)"', html)
    assert values[0] == (
        "ft:gpt-4o:acme",
        "not in the catalog · served by this provider",
    )
    assert values[1][0] == "gpt-4o" and values[1][1].endswith("· served by this provider")
    assert ("gpt-4.1", "$2 in / $8 out per 1M tokens · 1.05M context") in values
    staff_client.get(url, HTTP_HX_REQUEST="true")
    assert len(asked) == 1  # the provider's list is reused for a while


def test_an_unreachable_provider_still_gets_the_catalog(staff_client: Client, openai_rows):
    provider = openai_rows[0]
    http.use_transport(httpx.MockTransport(lambda r: httpx.Response(401, json={"error": {}})))
    html = staff_client.get(f"/deployments/models/?provider={provider.pk}").content.decode()
    assert '<option value="gpt-4o" ' in html and "served by this provider" not in html


def test_capabilities_are_yes_no_or_from_the_catalog(staff_client: Client, openai_rows):
    provider, route, catalogued, _ = openai_rows
    post = {
        "provider": provider.pk,
        "model": "gpt-4o",
        "weight": "1",
        "supports_tools": "false",
        "supports_vision": "unknown",
        "supports_reasoning": "true",
        "enabled": "on",
    }
    staff_client.post(f"/deployments/{catalogued.pk}/", post, HTTP_HX_REQUEST="true")
    catalogued.refresh_from_db()
    assert catalogued.supports_tools is False
    assert catalogued.supports_vision is None
    assert catalogued.supports_reasoning is True
    assert catalogued.input_price is None  # left empty: the catalog's


def test_the_playground_column_picker_shows_price_and_context(staff_client: Client, openai_rows):
    html = staff_client.get("/playground/").content.decode()
    assert ">smart — $2.5 in / $10 out per 1M tokens · 128k context</option>" in html


def test_a_row_with_prices_from_two_places_says_so(staff_client: Client, openai_rows):
    provider, route, _, _ = openai_rows
    Deployment.objects.create(
        route=route, provider=provider, model="my-own-model", output_price=Decimal("1.5")
    )
    html = staff_client.get("/routes/").content.decode()
    assert (
        '$0 in / $1.5 out per 1M tokens <small class="muted">(input unpriced, output custom price)'
        in html
    )


def test_a_model_the_catalog_does_not_know_gets_no_assumed_badges(
    staff_client: Client, openai_rows
):
    """Tools and vision are assumed for an unknown model (so calls are not refused), but
    the routes page showed them as badges, as if known (#66); a flag its deployment sets
    is still shown, and a catalogued model keeps the catalog's."""
    provider, route, catalogued, _ = openai_rows
    unknown = Deployment.objects.create(route=route, provider=provider, model="house-model-7b")
    told = Deployment.objects.create(
        route=route, provider=provider, model="house-model-8b", supports_tools=True
    )
    html = staff_client.get("/routes/").content.decode()

    def flags(deployment: Deployment) -> str:
        start = html.index(f'id="deployment-{deployment.pk}"')
        return re.search(r'<span class="flags">(.*?)</span>', html[start:], re.S).group(1)

    assert flags(unknown) == ""
    assert flags(told) == "<i>tools</i>"
    assert "<i>tools</i>" in flags(catalogued) and "<i>vision</i>" in flags(catalogued)
