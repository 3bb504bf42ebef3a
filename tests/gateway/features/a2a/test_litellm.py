"""LiteLLM ``agents:`` import (parse, plan, apply) and export: the card written in the
file read with the SDK, the token stored encrypted or kept as a reference, agents of
LiteLLM's own providers skipped, a second import changes nothing, the export imports
back."""

from __future__ import annotations

from decimal import Decimal

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


GOVERNED = """
model_list: []
agents:
  - agent_name: budgeted
    agent_card_params: {name: B, url: "https://budgeted.example/a2a"}
    static_headers: {Authorization: "Bearer os.environ/BUDGETED_TOKEN", X-Other: "x"}
    litellm_params: {cost_per_query: 0.05, max_budget_per_session: 5.0}
    switchyard: {run_budget_usd: 1.5, act_as_caller: true}
  - agent_name: crm
    agent_card_params: {name: C, url: "https://crm.example/a2a"}
    switchyard:
      auth: oauth
      oauth_issuer: https://login.example
      oauth_client_id: switchyard
      oauth_client_secret_ref: os.environ/CRM_OAUTH_SECRET
      oauth_scopes: crm.read
"""


def _applied(text: str) -> None:
    config = parse_config(text)
    config.operator = True
    assert not config.skipped, config.skipped
    apply_plan(plan_import(config))


@pytest.mark.django_db
def test_budgets_and_auth_go_out_and_come_back() -> None:
    """LiteLLM's spellings (``cost_per_query``, ``max_budget_per_session``, a static
    bearer header) and ``switchyard:`` for the rest (budget per run, trust, per-user
    OAuth) are read, written, and read back to the same agents."""
    config = parse_config(GOVERNED)
    assert any("X-Other" in w for w in config.warnings)  # only a bearer is sent
    _applied(GOVERNED)
    budgeted, crm = A2aAgent.objects.get(name="budgeted"), A2aAgent.objects.get(name="crm")
    assert (budgeted.auth, budgeted.bearer_ref) == ("bearer", "os.environ/BUDGETED_TOKEN")
    assert (budgeted.price_usd, budgeted.session_budget_usd) == (Decimal("0.05"), Decimal(5))
    assert budgeted.run_budget_usd == Decimal("1.5") and budgeted.act_as_caller
    assert crm.auth == "oauth" and crm.oauth_issuer == "https://login.example"
    assert (crm.oauth_client_id, crm.oauth_scopes) == ("switchyard", "crm.read")
    assert crm.oauth_client_secret_ref == "os.environ/CRM_OAUTH_SECRET"
    before = {a.name: _settings(a) for a in A2aAgent.objects.all()}

    exported = export_config()
    out = {a["agent_name"]: a for a in yaml.safe_load(exported)["agents"]}
    assert out["budgeted"]["litellm_params"] == {
        "api_key": "os.environ/BUDGETED_TOKEN",
        "cost_per_query": 0.05,
        "max_budget_per_session": 5.0,
    }
    assert out["budgeted"]["switchyard"] == {"run_budget_usd": 1.5, "act_as_caller": True}
    assert out["crm"]["switchyard"]["auth"] == "oauth"
    assert out["crm"]["switchyard"]["oauth_client_secret_ref"] == "os.environ/CRM_OAUTH_SECRET"

    A2aAgent.objects.all().delete()  # imported afresh: the same agents
    _applied(exported)
    assert {a.name: _settings(a) for a in A2aAgent.objects.all()} == before
    again = parse_config(exported)
    again.operator = True
    assert {c.action for c in plan_import(again).changes("agents")} == {"unchanged"}


@pytest.mark.django_db
def test_a_budget_left_out_is_kept_and_null_clears_it() -> None:
    _applied(GOVERNED)
    _applied(GOVERNED.replace(", max_budget_per_session: 5.0", ""))
    assert A2aAgent.objects.get(name="budgeted").session_budget_usd == Decimal(5)
    _applied(GOVERNED.replace("max_budget_per_session: 5.0", "max_budget_per_session: null"))
    assert A2aAgent.objects.get(name="budgeted").session_budget_usd is None


@pytest.mark.parametrize(
    ("switchyard", "says"),
    [
        ("{auth: oauth, oauth_client_secret_ref: literal-secret}", "never the secret"),
        ("{auth: mtls}", "switchyard.auth"),
        ("{run_budget_usd: -1}", "0 or more"),
    ],
)
def test_bad_settings_are_refused_naming_the_field(switchyard: str, says: str) -> None:
    text = f"""
agents:
  - agent_name: bad
    agent_card_params: {{name: B, url: "https://bad.example/a2a"}}
    switchyard: {switchyard}
"""
    config = parse_config(text)
    assert config.specs("agents") == []
    assert any(says in str(s) and "agents[0]" in str(s) for s in config.skipped), config.skipped


def _settings(agent: A2aAgent) -> tuple[object, ...]:
    return (
        agent.url,
        agent.auth,
        agent.bearer_ref,
        agent.price_usd,
        agent.run_budget_usd,
        agent.session_budget_usd,
        agent.act_as_caller,
        agent.oauth_issuer,
        agent.oauth_client_id,
        agent.oauth_client_secret_ref,
        agent.oauth_scopes,
    )
