"""LiteLLM's spelling of a Gemini Interactions upstream, like the Responses upstream's:
``model: gemini/interactions/<model>`` with the Gemini ``api_base`` imports as a
``gemini_interactions`` provider and exports back the same."""

from __future__ import annotations

import pytest

from gateway.models import Deployment, Provider
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

CONFIG = """
model_list:
  - model_name: gi-flash
    litellm_params:
      model: gemini/interactions/gemini-3.5-flash
      api_base: https://generativelanguage.googleapis.com
      api_key: os.environ/GEMINI_API_KEY
  - model_name: plain-gemini
    litellm_params:
      model: gemini/gemini-2.5-pro
      api_key: os.environ/GEMINI_API_KEY
"""


@pytest.mark.django_db
def test_gemini_interactions_imports_and_exports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "AIza-test")
    apply_plan(plan_import(parse_config(CONFIG)))
    deployment = Deployment.objects.get(route__name="gi-flash")
    assert deployment.provider.kind == Provider.Kind.GEMINI_INTERACTIONS
    assert deployment.model == "gemini-3.5-flash"
    assert deployment.provider.base_url == "https://generativelanguage.googleapis.com"
    assert Deployment.objects.get(route__name="plain-gemini").provider.kind == "gemini"
    exported = export_config()
    assert "model: gemini/interactions/gemini-3.5-flash" in exported
    assert "model: gemini/gemini-2.5-pro" in exported
    plan = plan_import(parse_config(exported))
    assert not plan.has_changes, plan.describe()
