"""The one form that adds a model (``console.add_model_form``): the providers to pick
(and "New provider…" only for who may create one), what was picked, the route named
after the model unless given, the deployment's figures, the catalog's figures shown as
the placeholders of the fields that override them (with a line in words), and the
warning for a model whose output nothing bounds. Through the page:
``tests/console/views/test_add_model.py``."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from console.add_model_form import NEW, AddModelForm, limits_warning
from gateway import catalog
from gateway.catalog import store
from gateway.catalog.entry import Entry
from gateway.models import Provider
from gateway.providers import kinds

pytestmark = pytest.mark.django_db


@pytest.fixture
def providers(settings, tmp_path) -> tuple[Provider, Provider]:
    settings.DATA_DIR = tmp_path
    store.reset()
    yield (
        Provider.objects.create(name="zeta", kind="openai", base_url="https://api.openai.com/v1"),
        Provider.objects.create(name="alpha", kind="echo"),
    )
    store.reset()


def test_the_providers_offered_and_the_one_picked(providers) -> None:
    zeta, alpha = providers
    form = AddModelForm()
    assert form.fields["provider"].choices == [(str(alpha.pk), "alpha (echo)"),
                                               (str(zeta.pk), "zeta (openai)")]  # fmt: skip
    assert form.initial["provider"] == str(alpha.pk) and not form.is_empty
    creator = AddModelForm({"provider": NEW, "model": "m"}, may_create_provider=True)
    assert creator.fields["provider"].choices[-1] == (NEW, "New provider…")
    assert creator.wants_new_provider() and creator.chosen_provider() is None
    picked = AddModelForm({"provider": str(zeta.pk), "model": " gpt-4o "})
    assert picked.chosen_provider() == zeta and not picked.wants_new_provider()
    assert picked.raw("model") == "gpt-4o"
    assert not AddModelForm({"provider": NEW, "model": "m"}).wants_new_provider()


def test_no_provider_and_none_to_create_is_empty(db) -> None:
    assert AddModelForm().is_empty
    assert not AddModelForm(may_create_provider=True).is_empty


def test_the_route_and_the_deployments_values(providers) -> None:
    zeta = providers[0]
    form = AddModelForm({"provider": str(zeta.pk), "model": "gpt-4o", "input_price": "2.5",
                         "context_window": "1000"})  # fmt: skip
    assert form.is_valid(), form.errors
    assert form.route_values() == {"name": "gpt-4o"}
    assert form.deployment_values() == {"model": "gpt-4o", "input_price": Decimal("2.5"),
                                        "output_price": None, "context_window": 1000}  # fmt: skip
    named = AddModelForm({"provider": str(zeta.pk), "model": "gpt-4o", "route_name": "smart"})
    assert named.is_valid() and named.route_values() == {"name": "smart"}
    bad = AddModelForm({"provider": "999", "model": "", "context_window": "0"})
    assert not bad.is_valid() and set(bad.errors) == {"provider", "model", "context_window"}


def test_the_catalogs_figures_as_placeholders(providers) -> None:
    zeta = providers[0]
    vendor = kinds.catalog_vendor(zeta.kind)
    entry = catalog.lookup(catalog.load(), vendor, zeta.base_url, "gpt-4.1")
    form = AddModelForm({"provider": str(zeta.pk), "model": "gpt-4.1"})
    form.show_catalog(entry)
    assert form.placeholders == {"route_name": "gpt-4.1", "input_price": "2",
                                 "output_price": "8", "context_window": "1047576"}  # fmt: skip
    assert form.fields["input_price"].widget.attrs["placeholder"] == "2"
    assert json.loads(form.placeholders_json) == form.placeholders
    assert form.catalog_line.startswith(f"Catalog {entry.key}: $2 in / $8 out")
    assert form.limits_warning == ""
    unknown = AddModelForm({"provider": str(zeta.pk), "model": "my-finetune"})
    unknown.show_catalog(None)
    assert unknown.placeholders["input_price"] == "unpriced"
    assert unknown.placeholders["context_window"] == "unknown"
    assert "is not in the model catalog" in unknown.catalog_line
    assert "my-finetune" in unknown.limits_warning
    empty = AddModelForm({"provider": str(zeta.pk), "model": ""})
    empty.show_catalog(None)
    assert empty.placeholders == {"route_name": "the model id", "input_price": "",
                                  "output_price": "", "context_window": ""}  # fmt: skip
    assert empty.catalog_line.startswith("Pick a model")


def test_the_warning_only_when_no_limit_is_known() -> None:
    bounded = Entry(vendor="v", model="m", context_window=None, max_output_tokens=4096)
    assert limits_warning("m", bounded, "") == ""
    assert limits_warning("m", Entry(vendor="v", model="m", context_window=8000), "") == ""
    assert limits_warning("m", None, "8000") == ""  # typed in
    assert limits_warning("", None, "") == ""
    assert "keys with a budget will refuse" in limits_warning("m", Entry(vendor="v", model="m"), "")
