"""Model-catalog figures in console templates (``console.templatetags.catalog``): a long
model id that wraps between its parts, prices per million without trailing zeros, the
capability flags in force as badges, the catalog's date and sources, a route's label,
and the unpriced deployments the dashboard names (the first few, then "N more"). The
notice on the pages: ``tests/console/test_unpriced_notice.py``."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from console.templatetags import catalog as tags
from gateway.models import Deployment, Provider, Route


def test_a_model_id_may_break_after_its_separators_and_is_escaped() -> None:
    assert tags.name_breaks("meta/llama-3.1:8b@x") == "meta/<wbr>llama-3.<wbr>1:<wbr>8b@<wbr>x"
    assert tags.name_breaks("<b>") == "&lt;b&gt;"


def test_prices_per_million_read_plainly() -> None:
    assert tags.per_million(Decimal("2.500000")) == "2.5"
    assert tags.per_million(Decimal("10.00")) == "10"
    assert tags.per_million(Decimal("0.07500")) == "0.075"
    assert tags.per_million(None) == "—" and tags.per_million("") == "—"


def test_the_flags_in_force_the_catalog_decides_or_the_deployment_sets() -> None:
    deployment = SimpleNamespace(
        supports_tools=True, supports_vision=None, supports_reasoning=None, supports_top_k=True
    )
    known = {"catalog_model": "gpt-x", "supports_tools": False, "supports_vision": True}
    assert tags.flags_on(deployment, known) == ["vision", "top_k"]
    # a model the catalog does not know: only what the deployment itself sets
    assert tags.flags_on(deployment, {"supports_vision": True}) == ["tools", "top_k"]


def test_a_routes_label_or_nothing() -> None:
    assert tags.route_label({"fast": "$1 / 128k"}, "fast") == "$1 / 128k"
    assert tags.route_label({"fast": "x"}, "slow") == "" and tags.route_label(None, "x") == ""


def test_the_catalogs_size_date_and_sources() -> None:
    info = tags.catalog_info()
    assert info["count"] > 100 and info["updated"] != "unknown"
    assert info["sources"].startswith("OpenAI: ") and "; " in info["sources"]


@pytest.mark.django_db
def test_the_unpriced_deployments_named_then_counted(monkeypatch) -> None:
    monkeypatch.setattr(tags, "UNPRICED_SHOWN", 2)
    gpu = Provider.objects.create(name="gpu", kind="openai", base_url="http://gpu-box:8000/v1")
    echo = Provider.objects.create(name="echo", kind="echo")
    route = Route.objects.create(name="b-route")
    other = Route.objects.create(name="a-route")
    made = [Deployment.objects.create(route=route, provider=gpu, model=f"ft-{n}") for n in range(3)]
    first = Deployment.objects.create(route=other, provider=gpu, model="ft-first")
    Deployment.objects.create(route=route, provider=gpu, model="priced", input_price=Decimal(1))
    Deployment.objects.create(route=route, provider=gpu, model="off", enabled=False)
    Deployment.objects.create(route=route, provider=echo, model="echo-1")
    shown = tags.unpriced_notice({"user": "u"})
    assert shown["unpriced"] == [first, made[0]]  # by route name, then as added
    assert shown["more"] == 2 and shown["user"] == "u"
