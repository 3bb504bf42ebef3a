"""Importing a route that exists: by default the file's deployments replace the
route's (importing the same file twice changes nothing), never a silent 50/50 split
with what was there; adding beside them is an explicit choice the preview spells out
(issue #32)."""

from __future__ import annotations

import pytest

from gateway.models import Deployment, Provider, Route
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import ADD, plan_import

CONFIG = """
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
"""


@pytest.fixture
def existing_route(db, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1",
        secret_ref="os.environ/OPENAI_API_KEY",
    )  # fmt: skip
    route = Route.objects.create(name="chat")
    old = Deployment.objects.create(route=route, provider=provider, model="gpt-4o-mini")
    return route, old


def models_of(route: Route) -> list[str]:
    return sorted(route.deployments.values_list("model", flat=True))


def test_reimport_replaces_the_routes_deployments_and_says_so(existing_route):
    route, old = existing_route
    plan = plan_import(parse_config(CONFIG))
    (message,) = plan.existing_routes
    assert message == (
        "route chat exists: the file's deployments replace its openai/gpt-4o-mini "
        "(1 deployment removed)"
    )
    assert "  - deployment chat -> openai/gpt-4o-mini" in plan.describe()
    assert "1 deployment removed" in plan.summary()
    apply_plan(plan)
    assert models_of(route) == ["gpt-4o"]  # not gpt-4o and gpt-4o-mini at 50/50
    assert not Deployment.objects.filter(pk=old.pk).exists()


def test_importing_the_same_file_twice_changes_nothing(existing_route):
    route, _ = existing_route
    apply_plan(plan_import(parse_config(CONFIG)))
    rows = list(Deployment.objects.values_list("pk", "model", "weight"))
    again = plan_import(parse_config(CONFIG))
    assert not again.has_changes and again.existing_routes == []
    apply_plan(again)
    assert list(Deployment.objects.values_list("pk", "model", "weight")) == rows


def test_adding_beside_is_a_choice_the_preview_spells_out(existing_route):
    route, old = existing_route
    plan = plan_import(parse_config(CONFIG), existing=ADD)
    (message,) = plan.existing_routes
    assert message == (
        "route chat exists: the file's deployments are added beside its openai/gpt-4o-mini, "
        "so its traffic is split: 50% to the file's, 50% to the ones already there"
    )
    apply_plan(plan)
    assert models_of(route) == ["gpt-4o", "gpt-4o-mini"]
    assert Deployment.objects.filter(pk=old.pk).exists()


def test_a_route_whose_file_lines_are_skipped_keeps_what_it_has(existing_route):
    route, old = existing_route
    too_long = "x" * 250  # parses, but the deployment row refuses it when planned
    config = f"""
model_list:
  - model_name: chat
    litellm_params: {{model: openai/{too_long}}}
"""
    plan = plan_import(parse_config(config))
    assert [s.route for s in plan.skipped] == ["chat"]
    (message,) = plan.existing_routes
    assert "its openai/gpt-4o-mini are kept, since some of the file's deployments" in message
    apply_plan(plan)
    assert models_of(route) == ["gpt-4o-mini"]


def test_adding_beside_keeps_the_routes_own_fallbacks(existing_route):
    """A keep-mode import removed a route's own fallbacks (issue #43)."""
    route, _ = existing_route
    Route.objects.create(name="backup")
    Route.objects.create(name="long")
    route.fallbacks, route.context_window_fallbacks = ["backup"], ["long"]
    route.save()
    config = CONFIG + "router_settings:\n  fallbacks: [{chat: [extra]}]\n"
    config = config.replace(
        "model_list:\n",
        "model_list:\n  - model_name: extra\n    litellm_params: {model: openai/gpt-4o}\n",
    )
    apply_plan(plan_import(parse_config(config), existing=ADD))
    route.refresh_from_db()
    assert route.fallbacks == ["backup", "extra"]
    assert route.context_window_fallbacks == ["long"]
    # replace mode: the route gets the file's fallbacks, as before
    apply_plan(plan_import(parse_config(config)))
    route.refresh_from_db()
    assert route.fallbacks == ["extra"] and route.context_window_fallbacks == []


WEAK = "model_list: []\ngeneral_settings: {master_key: sk-1234}\n"


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["sk-1234", "short-key-123"])
def test_a_weak_master_key_is_left_out_unless_asked(raw):
    """LiteLLM's example ``master_key: sk-1234`` made a live unlimited key (issue #43)."""
    from gateway.models import ApiKey

    text = WEAK.replace("sk-1234", raw)
    plan = plan_import(parse_config(text))
    (warning,) = [w for w in plan.warnings if "master_key" in w]
    assert "no litellm-master-key key is created" in warning
    assert raw not in warning  # the key itself is not repeated
    apply_plan(plan)
    assert not ApiKey.objects.exists()

    config = parse_config(text)
    config.allow_weak_master_key = True
    plan = plan_import(config)
    assert any("imported as asked" in w for w in plan.warnings)
    apply_plan(plan)
    assert ApiKey.objects.get().key_hash == ApiKey.hash_key(raw)
