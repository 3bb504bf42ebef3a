"""Every console form that writes a resource asks the field table
(``gateway.access.field_rules``), as ``/api`` does: with the table refusing, each form's
submission is a 403 page naming the refused field, and nothing is saved; the control,
with the table as it is, saves the same submission (an owner may write every field).
The forms asked must be every form ``tests/gateway/access/test_field_rules.py`` maps to
a resource, so a new form is caught until it asks (and has a case here)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import field_rules, roles
from gateway.models import (
    AlertSettings,
    ApiKey,
    Deployment,
    Guardrail,
    Invite,
    McpServer,
    Membership,
    PinnedChart,
    Profile,
    Provider,
    Route,
    SsoSettings,
    TagBudget,
    Team,
)
from tests.gateway.access.test_field_rules import FORMS

REFUSED = "the test refuses this field"


@pytest.fixture
def world(registry_rows: dict[str, Any]) -> dict[str, Any]:
    owner = User.objects.create_user("boss", password="pw-123456789")
    roles.set_role(owner, roles.OWNER)
    member = User.objects.create_user("mia", password="pw-123456789")
    roles.set_role(member, roles.MEMBER)
    team = Team.objects.create(name="crew")
    guardrail = Guardrail.objects.create(
        name="words", kind="litellm_content_filter", modes=["pre_call"],
        params={"blocked_words": [{"keyword": "x", "action": "BLOCK"}]},
    )  # fmt: skip
    server = McpServer.objects.create(name="docs", url="https://mcp.example/mcp")
    client = Client()
    client.force_login(owner)
    return {**registry_rows, "client": client, "member": member, "team": team,
            "guardrail": guardrail, "server": server}  # fmt: skip


Case = tuple[str, Callable[[dict[str, Any]], tuple[str, dict[str, Any]]]]
DEPLOYMENT = {"model": "m2", "weight": "1", "input_price": "0", "output_price": "0",
              "cache_read_price": "0", "cache_write_price": "0", "enabled": "on"}  # fmt: skip
GUARDRAIL = {"kind": "litellm_content_filter", "modes": ["pre_call"], "timeout": "5",
             "unreachable_fallback": "fail_closed", "enabled": "on",
             "params": '{"blocked_words": [{"keyword": "y", "action": "BLOCK"}]}'}  # fmt: skip

# each form's submission: (resource it writes, world -> (url, data))
CASES: list[Case] = [
    ("keys", lambda w: ("/keys/new/", {"name": "k1", "budget_period": "month"})),
    ("routes", lambda w: ("/routes/new/", {"name": "r1", "strategy": "weighted", "max_attempts": 3})),
    ("routes", lambda w: (f"/routes/{w['route'].pk}/",
                          {"name": "chat", "strategy": "least_busy", "max_attempts": 2})),
    ("deployments", lambda w: (f"/routes/{w['route'].pk}/deployments/new/",
                               {**DEPLOYMENT, "provider": w["provider"].pk})),
    ("deployments", lambda w: (f"/deployments/{w['deployment'].pk}/",
                               {**DEPLOYMENT, "model": "gpt-y", "provider": w["provider"].pk})),
    ("add_model", lambda w: ("/routes/add-model/",
                             {"provider": w["provider"].pk, "model": "m3", "route_name": "r3"})),
    ("providers", lambda w: ("/providers/new/",
                             {"name": "p2", "kind": "openai", "base_url": "https://a.example/v1"})),
    ("providers", lambda w: (f"/providers/{w['provider'].pk}/",
                             {"name": "upstream", "kind": "openai",
                              "base_url": "http://127.0.0.1:9/v2"})),
    ("mcp_servers", lambda w: ("/mcp-servers/new/",
                               {"name": "more", "transport": "streamable_http",
                                "url": "https://more.example/mcp", "enabled": "on",
                                "connect_timeout": "10", "call_timeout": "60"})),
    ("mcp_servers", lambda w: (f"/mcp-servers/{w['server'].pk}/",
                               {"name": "docs", "transport": "streamable_http", "description": "d",
                                "url": "https://mcp.example/mcp", "enabled": "on",
                                "connect_timeout": "10", "call_timeout": "60"})),
    ("teams", lambda w: ("/teams/new/", {"name": "t2", "budget_period": "month"})),
    ("teams", lambda w: (f"/teams/{w['team'].pk}/",
                         {"action": "save", "name": "crew", "description": "d",
                          "budget_period": "month"})),
    ("team_members", lambda w: (f"/teams/{w['team'].pk}/",
                                {"action": "add-member", "user": w["member"].username,
                                 "role": "member"})),
    ("users", lambda w: (f"/users/{w['member'].pk}/role/", {"role": "editor"})),
    ("user_limits", lambda w: (f"/users/{w['member'].pk}/limits/",
                               {"rpm_limit": "5", "budget_period": "month"})),
    ("invites", lambda w: ("/users/invite/",
                           {"username": "ivy", "role": "member", "how": "link",
                            "expires_in_days": 7})),
    ("guardrails", lambda w: ("/guardrails/new/", {**GUARDRAIL, "name": "more-words"})),
    ("guardrails", lambda w: (f"/guardrails/{w['guardrail'].pk}/edit/",
                              {**GUARDRAIL, "name": "words"})),
    ("alerts", lambda w: ("/alerts/", {"enabled": "on", "default_thresholds": "80"})),
    ("tags", lambda w: ("/spend/tag-budgets",
                        {"name": "campaign", "max_budget": "5", "budget_period": "month"})),
    ("a2a_agents", lambda w: ("/a2a-agents/new/",
                              {"name": "helper", "url": "https://agent.example/", "auth": "",
                               "price_usd": "0", "timeout": "300", "enabled": "on"})),
    ("sso", lambda w: ("/settings/sign-in/",
                       {"issuer": "https://idp.example.com", "client_id": "gw"})),
    ("pinned_charts", lambda w: ("/dashboard/pin/",
                                 {"team": w["team"].pk, "metric": "cost", "group_by": "route",
                                  "window": "24h"})),
]  # fmt: skip


def snapshot_of_rows() -> dict[str, Any]:
    """What the submissions could change, to show a refused one changed nothing."""
    return {
        model.__name__: sorted(str(row) for row in model.objects.values())
        for model in (
            *(ApiKey, Provider, Route, Deployment, Team, Membership, Profile, Invite),
            *(Guardrail, McpServer, AlertSettings, TagBudget, SsoSettings, PinnedChart),
        )
    }


@pytest.mark.django_db
def test_every_console_form_asks_the_field_table(
    world: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client: Client = world["client"]
    asked: list[str] = []
    real = field_rules.refusals

    def refusing(
        actor: roles.Actor,
        resource: str,
        sent: Mapping[str, Any],
        stored: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        asked.append(resource)
        return {next(iter(sent), "field"): REFUSED}

    before = snapshot_of_rows()
    monkeypatch.setattr(field_rules, "refusals", refusing)
    for resource, make in CASES:
        url, data = make(world)
        reply = client.post(url, data)
        assert reply.status_code == 403, (url, reply.status_code, reply.content[:500])
        assert REFUSED in reply.content.decode(), url  # naming the field and why
        assert asked and asked[-1] == resource, (url, asked[-1:])
    assert snapshot_of_rows() == before  # nothing refused was saved
    assert set(asked) == set(FORMS.values())  # every form that writes a resource asks

    # the control: the table as it is lets an owner save every one of them
    monkeypatch.setattr(field_rules, "refusals", real)
    for resource, make in CASES:
        if resource == "a2a_agents":
            continue  # saving fetches the agent's card: tests/gateway/features/a2a save with one
        url, data = make(world)
        reply = client.post(url, data)
        assert reply.status_code in (200, 302), (url, reply.status_code)
        assert b'class="errors"' not in reply.content, url  # saved, no form error
    after = snapshot_of_rows()
    assert {name for name in after if after[name] != before[name]} == set(after)
