"""A passthrough answer's prices: the operator's deployment of the model named, else the
catalog's entry for it at that provider, else none (still counted)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from gateway.access import registry
from gateway.base.types import Usage
from gateway.catalog import store
from gateway.features.passthrough import pricing
from tests.gateway.entries import PROVIDER, route, snapshot

OPENAI = dataclasses.replace(PROVIDER, base_url="https://api.openai.com/v1")


def priced(name: str, input_price: str, output_price: str, model: str) -> object:
    made = route(name, model, provider=OPENAI)
    deployments = tuple(
        dataclasses.replace(d, input_price=Decimal(input_price), output_price=Decimal(output_price))
        for d in made.deployments
    )
    return dataclasses.replace(made, deployments=deployments)


def test_the_admitting_deployments_own_model_keeps_its_prices(snapshot_reset: None) -> None:
    gpt = priced("gpt", "1", "2", "gpt-4o")
    registry.install(snapshot(gpt))  # type: ignore[arg-type]
    deployment = gpt.deployments[0]  # type: ignore[attr-defined]
    assert pricing.priced(deployment, ["gpt-4o"]) is deployment
    assert pricing.priced(deployment, []) is deployment


def test_another_deployment_of_the_model_named_lends_its_prices(snapshot_reset: None) -> None:
    gpt, mini = priced("gpt", "1", "2", "gpt-4o"), priced("mini", "3", "4", "gpt-4o-mini")
    registry.install(snapshot(gpt, mini))  # type: ignore[arg-type]
    admitting = gpt.deployments[0]  # type: ignore[attr-defined]
    made = pricing.priced(admitting, ["gpt-4o-mini"])
    assert (made.model, made.input_price, made.output_price) == ("gpt-4o-mini", 3, 4)
    assert (made.id, made.route) == (admitting.id, "gpt")  # the admitting one's row


def test_a_model_no_deployment_names_is_priced_from_the_catalog(snapshot_reset: None) -> None:
    gpt = priced("gpt", "1", "2", "gpt-4o")
    installed = snapshot(gpt)  # type: ignore[arg-type]
    installed.parts[pricing.PART] = store.load()
    registry.install(installed)
    admitting = gpt.deployments[0]  # type: ignore[attr-defined]
    made = pricing.priced(admitting, ["gpt-4o-mini-2024-07-18"])  # a dated variant
    assert made.model == "gpt-4o-mini-2024-07-18" and made.catalog is not None
    assert made.input_price > 0 and made.cost(Usage(input_tokens=1000, output_tokens=100)) > 0
    # a model the catalog does not know: no price, its tokens still counted
    unknown = pricing.priced(admitting, ["homegrown-7b"])
    assert unknown.model == "homegrown-7b" and unknown.cost(Usage(input_tokens=10**6)) == 0
