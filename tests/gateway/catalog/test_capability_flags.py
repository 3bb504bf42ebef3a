"""A deployment's capability flags are declared once (``gateway.catalog.capability_flags``):
a flag added to the declaration shows in the console form, the API schemas, the fields
a patch may set, LiteLLM import and export; the registry and each Target take theirs
from it; and every declared flag is a Deployment field of the declared shape."""

from __future__ import annotations

import dataclasses
from types import SimpleNamespace

import pytest
import yaml

from console.forms import DeploymentForm
from console.templatetags.catalog import flags_on
from gateway.access import registry
from gateway.base.entries import DeploymentEntry
from gateway.catalog import capability_flags
from gateway.catalog.capability_flags import Flag
from gateway.catalog.resolve import Resolved
from gateway.codecs.base import Target
from gateway.edge.api import routes as api_routes
from gateway.models import Deployment, Provider, Route
from gateway.ops import admin_ops
from gateway.ops.litellm.export import _export_deployment
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import
from gateway.providers.codec_provider import target_of
from tests.gateway.entries import deployment

TOY = Flag("supports_toy", "Toy", "supports_toy_things", False, "it plays", "toy")
PLAIN_TOY = dataclasses.replace(
    TOY, name="supports_plain_toy", litellm_key="supports_plain_toy", nullable=False
)
CONFIG = """
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
    model_info: {supports_toy_things: true}
"""


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(capability_flags, "FLAGS", (*capability_flags.FLAGS, TOY, PLAIN_TOY))


def test_a_new_flag_is_a_field_of_the_console_form_before_params(toy):
    form = DeploymentForm(initial={"supports_toy": True})
    names = list(form.fields)
    assert names.index("supports_toy") < names.index("params")
    assert names.index("supports_top_k") < names.index("supports_toy")
    field = form.fields["supports_toy"]
    assert (field.label, field.help_text, field.required) == ("Toy", "it plays", False)
    assert form["supports_toy"].widget_type == "capabilityselect"  # yes / no / catalog
    assert form["supports_plain_toy"].widget_type == "checkbox"
    assert [b.name for b in form.flag_fields][-2:] == ["supports_toy", "supports_plain_toy"]
    assert "supports_toy" in DeploymentForm.field_names()  # the edit view's initial values
    posted = DeploymentForm({"model": "m", "weight": "1", "supports_toy": "false"})
    posted.is_valid()
    assert posted.cleaned_data["supports_toy"] is False
    assert posted.cleaned_data["supports_plain_toy"] is False


def test_a_new_flag_shows_on_the_route_card_when_on(toy):
    row = SimpleNamespace(supports_top_k=False, supports_plain_toy=False)
    in_force = {"catalog_model": "m", "supports_tools": True, "supports_vision": False,
                "supports_toy": True}  # fmt: skip
    assert flags_on(row, in_force) == ["tools", "toy"]  # catalog-decided: as in force
    row.supports_plain_toy = True  # a plain flag: as set on the deployment
    assert flags_on(row, {**in_force, "supports_toy": False}) == ["tools", "toy"]


def test_a_new_flag_is_in_the_api_schemas_and_may_be_patched(toy):
    patch = api_routes.with_flags(api_routes._DeploymentFiguresPatch, "P", patch=True)
    out = api_routes.with_flags(api_routes._DeploymentFiguresOut, "O", patch=False)
    assert patch(supports_toy=True).supports_toy is True
    assert patch().supports_toy is None  # not sent
    assert out.model_fields["supports_toy"].is_required()
    assert out.model_fields["supports_toy"].annotation == bool | None
    assert out.model_fields["supports_plain_toy"].annotation is bool
    assert {"supports_toy", "supports_plain_toy"} <= admin_ops.deployment_fields()


def test_the_api_schemas_carry_exactly_the_declared_flags_in_place():
    for schema in (api_routes.DeploymentOut, api_routes.DeploymentPatch):
        fields = list(schema.model_fields)
        flags = [name for name in fields if name.startswith("supports_")]
        assert flags == list(capability_flags.names())
        assert fields.index(flags[-1]) + 1 == fields.index("params")


@pytest.mark.django_db
def test_a_new_flag_is_read_from_model_info_on_import(toy):
    config = parse_config(CONFIG)
    (spec,) = config.deployments
    assert spec.flags["supports_toy"] is True
    assert spec.flags["supports_plain_toy"] is False  # not in the file: its default
    assert not any("supports_toy_things" in w for w in config.warnings)
    (change,) = plan_import(config).deployments
    assert change.fields["supports_toy"] == (None, True)


@pytest.mark.django_db
def test_without_its_declaration_the_key_is_a_skipped_parameter():
    config = parse_config(CONFIG)
    assert "supports_toy" not in config.deployments[0].flags
    assert any("supports_toy_things: skipped parameter" in w for w in config.warnings)


def test_a_new_flag_is_written_to_model_info_on_export_when_not_its_default(toy):
    provider = Provider(name="openai", kind="openai", base_url="https://api.openai.com/v1")
    route = Route(name="chat")
    row = Deployment(route=route, provider=provider, model="gpt-4o")
    row.supports_toy, row.supports_plain_toy = True, False  # the fields it would have
    entry = _export_deployment(route, row, False, {}, [])
    assert entry["model_info"] == {"supports_toy_things": True}
    row.supports_toy = None  # empty: the catalog decides, nothing to write
    assert "model_info" not in _export_deployment(route, row, False, {}, [])
    again = parse_config(yaml.safe_dump({"model_list": [entry]})).deployments[0]
    assert again.flags["supports_toy"] is True


def test_a_flag_in_force_takes_the_catalog_as_declared():
    catalogued = SimpleNamespace(has=lambda capability: capability == "toy")
    row = SimpleNamespace(supports_toy=None, supports_plain_toy=False)
    assert TOY.in_force(row.supports_toy, catalogued) is True
    assert TOY.in_force(None, None) is False  # not in the catalog: the default
    assert TOY.in_force(False, catalogued) is False  # the deployment's no wins
    assert PLAIN_TOY.in_force(False, catalogued) is True  # the catalog's yes adds
    assert PLAIN_TOY.in_force(True, None) is True


@pytest.mark.django_db
def test_the_registry_builds_each_flag_from_the_declaration(monkeypatch):
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="chat")
    Deployment.objects.create(route=route, provider=provider, model="gpt-4o")
    assert registry.build_snapshot().route("chat").deployments[0].supports_top_k is False
    # declared as following the catalog's "tools" (gpt-4o has tools): the snapshot follows
    as_tools = tuple(
        dataclasses.replace(f, capability="tools") if f.name == "supports_top_k" else f
        for f in capability_flags.FLAGS
    )
    monkeypatch.setattr(capability_flags, "FLAGS", as_tools)
    assert registry.build_snapshot().route("chat").deployments[0].supports_top_k is True


def test_target_of_passes_the_declared_flags(monkeypatch):
    entry = deployment("r", "m", supports_top_k=True, supports_vision=False)
    target = target_of(entry)
    assert (target.supports_top_k, target.supports_vision) == (True, False)
    # a flag taken off the declaration no longer reaches the codec (Target's default)
    without_top_k = tuple(f for f in capability_flags.FLAGS if f.name != "supports_top_k")
    monkeypatch.setattr(capability_flags, "FLAGS", without_top_k)
    assert target_of(entry).supports_top_k is False


def test_every_declared_flag_is_a_deployment_field_entry_and_target_attribute():
    entry_fields = {f.name for f in dataclasses.fields(DeploymentEntry)}
    resolved_fields = {f.name for f in dataclasses.fields(Resolved)}
    target_fields = {f.name: f.default for f in dataclasses.fields(Target)}
    for flag in capability_flags.FLAGS:
        field = Deployment._meta.get_field(flag.name)
        assert field.null is flag.nullable, flag.name
        assert field.default == flag.unset, flag.name
        assert flag.name in entry_fields, flag.name
        assert (flag.name in resolved_fields) is flag.nullable, flag.name  # figures in force
        assert target_fields[flag.name] == flag.default, flag.name
    assert len(set(capability_flags.names())) == len(capability_flags.FLAGS)
    assert len({f.litellm_key for f in capability_flags.FLAGS}) == len(capability_flags.FLAGS)
