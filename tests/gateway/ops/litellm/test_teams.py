"""Teams in a config file's ``switchyard.teams`` section: one change per team that can
be saved (create, update naming what changes, unchanged), the ones naming unknown
guardrails or MCP servers or holding bad values skipped with where and why, and the
section written back with the defaults left out."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from gateway.models import Team
from gateway.ops.litellm.teams import TeamSpec, export_section, plan_teams

pytestmark = pytest.mark.django_db


@dataclass
class Change:
    action: str
    label: str
    row: Any
    fields: dict
    item: str = ""


def spec(name: str, **values: Any) -> TeamSpec:
    return TeamSpec(f"switchyard.teams.{name}", name, **values)


def test_new_changed_and_unchanged_teams():
    Team.objects.create(name="ops", rpm_limit=10)
    Team.objects.create(name="same", description="d")
    specs = [
        spec(
            "research",
            budget_usd=Decimal(250),
            guardrails=["no-pii"],
            mcp_allowed=["github__search"],
        ),
        spec("ops", rpm_limit=20),
        spec("same", description="d"),
    ]
    changes, skipped = plan_teams(specs, Change, ["no-pii"], ["github"])
    assert skipped == []
    assert [(c.action, c.label, c.item) for c in changes] == [
        ("create", "team research", "research"),
        ("update", "team ops", "ops"),
        ("unchanged", "team same", "same"),
    ]
    assert changes[0].fields == {} and changes[0].row.pk is None
    assert changes[0].row.mcp_allowed == ["github__search"]
    assert changes[1].fields == {"rpm_limit": (10, 20)}
    assert Team.objects.get(name="ops").rpm_limit == 10  # planned, not saved


def test_a_team_naming_what_does_not_exist_or_holding_bad_values_is_skipped():
    Team.objects.create(name="kept", rpm_limit=5)
    specs = [
        spec("a", guardrails=["no-pii", "nope"]),
        spec("b", mcp_allowed=["github", "jira__create"]),
        spec("c", budget_period="week"),
        spec("kept", rpm_limit=-1),
    ]
    changes, skipped = plan_teams(specs, Change, ["no-pii"], ["github"])
    assert changes == []
    assert skipped[0] == (
        "switchyard.teams.a",
        "switchyard.teams.a.guardrails: unknown guardrail(s): nope",
    )
    assert skipped[1] == (
        "switchyard.teams.b",
        "switchyard.teams.b.mcp_allowed: unknown MCP server(s): jira",
    )
    assert skipped[2][1].startswith("switchyard.teams.c.budget_period: ")
    assert skipped[3][1].startswith("switchyard.teams.kept.rpm_limit: ")
    assert Team.objects.get(name="kept").rpm_limit == 5


def test_the_section_leaves_the_defaults_out():
    Team.objects.create(name="plain")
    Team.objects.create(
        name="full",
        description="the builders",
        rpm_limit=600,
        tpm_limit=200_000,
        budget_usd=Decimal("250.00"),
        budget_period="day",
        guardrails=["no-pii"],
        mcp_allowed=[],
    )
    Team.objects.create(name="half", budget_usd=Decimal("12.50"))
    assert export_section() == {
        "full": {
            "description": "the builders",
            "rpm_limit": 600,
            "tpm_limit": 200_000,
            "budget_usd": 250,
            "budget_period": "day",
            "guardrails": ["no-pii"],
            "mcp_allowed": [],
        },
        "half": {"budget_usd": 12.5},
        "plain": {},
    }
