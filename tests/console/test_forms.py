"""The console's resource forms (``console.forms``): a provider's per-kind settings as
fields (only the chosen kind's kept, each checked by its setting's own rule), its secret
kept, replaced or removed; the per-kind help and labels the template draws; a
deployment's capability flags and its media unit prices moved into and out of
``params``; a key's tags and alert thresholds checked; the config import's text from a
paste or an upload. Field rules asked by every form: ``test_form_field_rules.py``."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from console import forms
from gateway.catalog import capability_flags
from gateway.models import Provider
from gateway.providers import kinds

PROVIDER = {"name": "up", "kind": "bedrock", "base_url": " https://x.example ", "api_version": "",
            "timeout": "", "extra_headers": "{}"}  # fmt: skip


def test_each_kinds_settings_are_fields_for_that_kind() -> None:
    fields = forms.setting_fields()
    assert (
        "bedrock" in fields["aws_region_name"][0] and "openai" not in fields["aws_region_name"][0]
    )
    assert set(fields["passthrough"][0]) > {"openai", "anthropic"}
    assert [kind for kind, _ in forms.kind_adapters()] == list(kinds.KINDS)


def test_a_provider_keeps_only_its_kinds_settings() -> None:
    form = forms.ProviderForm(
        {**PROVIDER, "aws_region_name": " eu-west-1 ", "vertex_project": "p", "secret": "s"}
    )
    assert form.is_valid(), form.errors
    values = form.values()
    assert values["settings"] == {"aws_region_name": "eu-west-1"}  # not vertex_ai's
    assert values["base_url"] == "https://x.example" and values["extra_headers"] == {}
    fields = dict((field.name, kinds_) for field, kinds_ in form.setting_fields)
    assert fields["vertex_project"] == "vertex_ai"
    assert form.all_kinds.split() == list(kinds.KINDS)
    assert any(kind == "azure" for kind, _field, _text in form.kind_help)
    assert "azure" in form.api_version_kinds.split()
    assert all(label for _kinds, label in form.secret_labels)


def test_a_setting_is_checked_by_its_own_rule() -> None:
    form = forms.ProviderForm({**PROVIDER, "batch_discount": "lots"})
    assert not form.is_valid() and "batch_discount" in form.errors
    validate = forms.setting_validator("batch_discount")
    validate("")  # empty: not set
    with pytest.raises(forms.ValidationError):
        validate("lots")


@pytest.mark.parametrize(
    ("data", "editing", "change"),
    [
        ({"secret": "sk-new"}, True, "sk-new"),
        ({"secret": ""}, True, None),  # an edit left empty keeps it
        ({"secret": ""}, False, ""),
        ({"secret": "sk-new", "clear_secret": "on"}, True, ""),
    ],
)
def test_the_secret_kept_replaced_or_removed(data, editing, change) -> None:
    form = forms.ProviderForm({**PROVIDER, **data})
    assert form.is_valid(), form.errors
    assert form.secret_change(editing) == change


def test_the_stored_settings_as_initial_values() -> None:
    provider = Provider(name="p", kind="bedrock", settings={"aws_region_name": "us-east-1"})
    initial = forms.ProviderForm.initial_settings(provider)
    assert initial["aws_region_name"] == "us-east-1" and initial["vertex_project"] == ""


def test_flag_fields_and_price_fields() -> None:
    by_name = {flag.name: flag for flag in capability_flags.FLAGS}
    tools = forms.flag_field(by_name["supports_tools"])
    assert tools.widget.choices[0] == ("unknown", "From the catalog")
    assert tools.clean("unknown") is None and tools.clean("true") is True
    top_k = forms.flag_field(by_name["supports_top_k"])
    assert top_k.clean("") is False and top_k.help_text == by_name["supports_top_k"].help
    price = forms.price_field("Input")
    assert price.label == "Input ($ per 1M tokens)" and price.clean("") is None
    with pytest.raises(forms.ValidationError):
        price.clean("-1")


@pytest.mark.django_db
def test_media_unit_prices_move_between_their_fields_and_params() -> None:
    provider = Provider.objects.create(name="oa", kind="openai")
    shown = forms.DeploymentForm(initial={"params": {"price_per_image": "0.04", "top_p": 0.9}})
    assert shown.initial["price_per_image"] == "0.04"
    assert shown.initial["params"] == {"top_p": 0.9}
    posted = forms.DeploymentForm({"provider": provider.pk, "model": "dall-e-3", "weight": "1",
                                   "price_per_image": "0.0400", "params": '{"top_p": 0.9}'})  # fmt: skip
    assert posted.is_valid(), posted.errors
    values = posted.values()
    assert values["params"] == {"top_p": 0.9, "price_per_image": "0.04"}
    assert "price_per_image" not in values and values["supports_tools"] is None


def test_figures_in_force_become_the_help() -> None:
    figures = {"input_price": Decimal("2"), "context_window": 128000,
               "sources": {"input_price": "catalog", "context_window": "catalog"}}  # fmt: skip
    form = forms.DeploymentForm(figures=figures)
    assert form.fields["input_price"].help_text == "in force: $2 per 1M tokens (catalog)"
    assert form.fields["context_window"].help_text == "in force: 128,000 tokens (catalog)"
    assert form.fields["search_unit_price"].help_text == "in force: priced by tokens ()"


@pytest.mark.django_db
def test_a_keys_tags_and_thresholds_are_checked() -> None:
    good = forms.KeyForm({"name": "k", "budget_period": "month", "tags": "team:a, b",
                          "alert_thresholds": "50, 90"})  # fmt: skip
    assert good.is_valid(), good.errors
    assert good.cleaned_data["tags"] == ["team:a", "b"]
    assert good.cleaned_data["alert_thresholds"] == [50, 90]
    bad = forms.KeyForm({"name": "k", "budget_period": "month", "tags": "x" * 100,
                         "alert_thresholds": "ninety"})  # fmt: skip
    assert not bad.is_valid() and {"tags", "alert_thresholds"} <= set(bad.errors)


def test_the_import_text_from_a_paste_or_an_upload() -> None:
    pasted = forms.ImportForm({"config": "model_list: []"})
    assert pasted.is_valid() and pasted.text() == "model_list: []"
    assert pasted.existing_mode() == "replace"
    upload = SimpleUploadedFile("config.yaml", b"router_settings: {}")
    uploaded = forms.ImportForm({"config": "ignored", "existing": "add"}, {"upload": upload})
    assert uploaded.is_valid() and uploaded.text() == "router_settings: {}"
    assert uploaded.existing_mode() == "add"
