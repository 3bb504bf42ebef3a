"""The deployment form's model picker (``console.model_picker``): prices and windows
read short ("$2.5", "128k", "1.05M"), a catalog entry described (a chat model, an
embedding model, one the catalog does not know), the provider's own models list fetched
once for a while (not kept when it failed), the listed models first then the catalog's
others, and the playground's label per route. Through the pages:
``tests/console/test_deployment_catalog.py``."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from console import model_picker
from gateway import catalog
from gateway.base import http
from gateway.catalog import store
from gateway.models import Deployment, Provider, Route
from gateway.providers import kinds


@pytest.fixture
def provider(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path  # the bundled catalog, no override
    store.reset()
    model_picker._live.clear()
    yield Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    store.reset()
    model_picker._live.clear()


def test_figures_read_short() -> None:
    assert model_picker.per_million(Decimal("2.500")) == "$2.5"
    assert model_picker.per_million(None) == "?"
    assert [model_picker.tokens(n) for n in (None, 0, 512, 128_000, 1_048_576)] == [
        "?", "?", "512", "128k", "1.05M",
    ]  # fmt: skip


def test_an_entry_described(provider) -> None:
    loaded = catalog.load()
    vendor = kinds.catalog_vendor(provider.kind)
    chat = catalog.lookup(loaded, vendor, provider.base_url, "gpt-4.1")
    assert model_picker.describe(chat) == "$2 in / $8 out per 1M tokens · 1.05M context"
    embed = catalog.lookup(loaded, vendor, provider.base_url, "text-embedding-3-small")
    assert model_picker.describe(embed) == "$0.02 per 1M tokens · embeddings"
    assert model_picker.describe(None) == "not in the catalog"


def test_the_providers_list_is_reused_but_a_failure_is_not(provider) -> None:
    answers = [httpx.Response(500, json={"error": {}}),
               httpx.Response(200, json={"data": [{"id": "b"}, {"id": "a"}, {"id": "a"}]})]  # fmt: skip
    asked: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        asked.append(request.url.path)
        return answers.pop(0)

    http.use_transport(httpx.MockTransport(upstream))
    assert model_picker.live_models(provider) == []
    assert model_picker.live_models(provider) == ["a", "b"]  # asked again, sorted, once each
    assert model_picker.live_models(provider) == ["a", "b"]  # reused
    assert asked == ["/v1/models", "/v1/models"]


def test_listed_models_first_then_the_catalogs_others(provider, monkeypatch) -> None:
    found = model_picker.options(provider, ["ft:mine", "gpt-4.1"])
    assert found[0] == model_picker.Option("ft:mine", "not in the catalog", True)
    assert found[1].model == "gpt-4.1" and found[1].listed and "$2 in" in found[1].label
    rest = [option.model for option in found[2:]]
    assert rest == sorted(rest) and "gpt-4.1" not in rest and not any(o.listed for o in found[2:])
    monkeypatch.setattr(model_picker, "MAX_OPTIONS", 3)
    assert len(model_picker.options(provider, ["x"])) == 3


def test_each_routes_label_is_its_first_enabled_deployments(provider) -> None:
    route = Route.objects.create(name="smart")
    Deployment.objects.create(route=route, provider=provider, model="gpt-4.1", enabled=False)
    Deployment.objects.create(
        route=route, provider=provider, model="own", input_price=Decimal("1"),
        output_price=Decimal("3"), context_window=8000,
    )  # fmt: skip
    Deployment.objects.create(route=route, provider=provider, model="gpt-4.1")
    labels = model_picker.route_labels(["smart", "missing"])
    assert labels == {"smart": "$1 in / $3 out per 1M tokens · 8k context"}
