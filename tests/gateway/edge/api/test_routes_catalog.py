"""The management API tells "not set" (null: the catalog's) from 0 and shows the
figures in force with their sources."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from gateway.catalog import store
from gateway.models import Deployment, Provider, Route


@pytest.fixture
def api(db, settings, tmp_path):
    settings.DATA_DIR = tmp_path
    settings.SWITCHYARD_MASTER_KEY = "sy-master-api-catalog-test"
    store.reset()
    client = Client(HTTP_AUTHORIZATION="Bearer sy-master-api-catalog-test")
    yield client
    store.reset()


def test_deployments_show_their_own_and_the_effective_figures(api):
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="smart")
    Deployment.objects.create(route=route, provider=provider, model="gpt-4o", input_price=0)
    (listed,) = api.get("/api/routes/").json()
    deployment = listed["deployments"][0]
    assert Decimal(deployment["input_price"]) == 0  # typed 0: free, not "unset"
    assert deployment["output_price"] is None and deployment["supports_vision"] is None
    effective = deployment["effective"]
    date = store.load().updated
    assert Decimal(str(effective["input_price"])) == 0
    assert Decimal(str(effective["output_price"])) == 10
    assert effective["context_window"] == 128_000 and effective["supports_vision"] is True
    assert effective["catalog_model"] == "openai/gpt-4o"
    assert effective["sources"]["input_price"] == "set on deployment"
    assert effective["sources"]["output_price"] == f"catalog {date}"


def test_null_clears_a_price_back_to_the_catalog(api):
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="smart")
    deployment = Deployment.objects.create(
        route=route, provider=provider, model="gpt-4o", output_price=Decimal("12")
    )
    response = api.patch(
        f"/api/routes/{route.pk}/deployments/{deployment.pk}",
        {"output_price": None},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    deployment.refresh_from_db()
    assert deployment.output_price is None
