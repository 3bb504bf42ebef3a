"""LiteLLM ``agents:`` import (parse, plan, apply) and export: the card written in the
file read with the SDK, the token stored encrypted or kept as a reference, agents of
LiteLLM's own providers skipped, a second import changes nothing, the export imports
back."""

from __future__ import annotations

import pytest
import yaml

from gateway.features.a2a.litellm import export_section
from gateway.models import A2aAgent
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

TOKEN = "literal-agent-token-Unmistakable-8812"
CONFIG = f"""
model_list: []
agents:
  - agent_name: helper
    agent_card_params:
      name: Helper
      description: Answers questions
      url: https://helper.example/a2a
      version: 2.0.0
      default_input_modes: [text]
      default_output_modes: [text]
      capabilities: {{streaming: true}}
      skills: [{{id: answer, name: Answer, description: Answers, tags: [qa]}}]
    litellm_params:
      api_key: {TOKEN}
    switchyard: {{price_usd: 0.02}}
  - agent_name: referenced
    agent_card_params: {{name: Ref, url: "https://ref.example/"}}
    litellm_params: {{api_key: os.environ/REF_TOKEN}}
  - agent_name: graph
    agent_card_params: {{name: Graph, url: "http://localhost:2024"}}
    litellm_params: {{custom_llm_provider: langgraph, model: agent}}
  - agent_card_params: {{url: "https://nameless.example"}}
"""


@pytest.mark.django_db
def test_import_plan_apply_and_round_trip() -> None:
    config = parse_config(CONFIG)
    config.operator = True
    assert [s.name for s in config.specs("agents")] == ["helper", "referenced"]
    assert any("agent_name" in str(s) for s in config.skipped)
    assert any("langgraph" in w for w in config.warnings)
    plan = plan_import(config)
    assert [c.action for c in plan.changes("agents")] == ["create", "create"]
    apply_plan(plan)
    helper = A2aAgent.objects.get(name="helper")
    assert helper.card["defaultInputModes"] == ["text"] and helper.card["version"] == "2.0.0"
    assert helper.auth == "bearer" and TOKEN not in helper.bearer_ciphertext
    assert str(helper.price_usd).startswith("0.02")
    assert A2aAgent.objects.get(name="referenced").bearer_ref == "os.environ/REF_TOKEN"

    again = plan_import(parse_config(CONFIG))
    assert [c.action for c in again.changes("agents")][1] == "unchanged"

    exported = yaml.safe_load(export_config())
    names = [a["agent_name"] for a in exported["agents"]]
    assert names == ["helper", "referenced"]
    assert TOKEN not in str(exported)  # the literal is written as a reference to set
    assert exported["agents"][0]["litellm_params"]["api_key"].startswith("os.environ/")
    back = parse_config(yaml.safe_dump(exported))
    assert [s.name for s in back.specs("agents")] == ["helper", "referenced"]


@pytest.mark.django_db
def test_an_oauth_agent_keeps_its_oauth_through_an_import() -> None:
    """LiteLLM's agents have no per-user OAuth: an import of an agent that has it (no
    api_key in the file) keeps it rather than making the agent take no token."""
    config = parse_config(CONFIG)
    config.operator = True
    apply_plan(plan_import(config))
    A2aAgent.objects.filter(name="referenced").update(
        auth="oauth", bearer_ref="", oauth_issuer="https://login.example"
    )
    without_key = CONFIG.replace("    litellm_params: {api_key: os.environ/REF_TOKEN}\n", "")
    assert "REF_TOKEN" not in without_key
    again = parse_config(without_key)
    again.operator = True
    apply_plan(plan_import(again))
    agent = A2aAgent.objects.get(name="referenced")
    assert agent.auth == "oauth" and agent.oauth_issuer == "https://login.example"
    comments: list[str] = []
    export_section(False, comments)
    assert any("referenced" in c and "OAuth" in c for c in comments)
