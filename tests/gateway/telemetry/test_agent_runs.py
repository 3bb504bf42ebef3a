"""Spend by A2A session (issue #63): ``/api/spend?group_by=agent_session`` and an
agent's console page answer one row per session (a context of one key's agent runs):
the agent its first run called, the key, its runs, and the totals of every row of the
key in it, the calls made down a chain of agents included."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from gateway.models import A2aAgent, RequestLog
from gateway.telemetry import agent_runs

MASTER = "sy-master-sessions-test"
pytestmark = pytest.mark.django_db


def row(request_id: str, **fields: object) -> None:
    base: dict[str, object] = {"endpoint": "chat", "status": 200, "key_name": "caller"}
    RequestLog.objects.create(request_id=request_id, **{**base, **fields})


@pytest.fixture
def logged() -> None:
    """Session s1 of key 7: two runs of ``planner`` (the second calling ``helper`` down
    the chain, in the same run), each with a model call; session s2 of key 8."""
    # fmt: off
    row("a2a_r1", dialect="a2a", route="planner", key_id=7, session="s1", agent_run="a2a_r1",
        cost_usd=Decimal("0.10"))
    row("c1", dialect="openai", route="chat", key_id=7, session="s1", agent_run="a2a_r1",
        cost_usd=Decimal("0.20"), input_tokens=5, output_tokens=3)
    row("a2a_r2", dialect="a2a", route="planner", key_id=7, session="s1", agent_run="a2a_r2",
        cost_usd=Decimal("0.10"))
    row("a2a_r3", dialect="a2a", route="helper", key_id=7, session="s1", agent_run="a2a_r2",
        cost_usd=Decimal("0.05"))  # the chain: planner's run calling helper
    row("a2a_r4", dialect="a2a", route="helper", key_id=8, session="s2", agent_run="a2a_r4",
        cost_usd=Decimal("1.00"), key_name="other")
    row("x", dialect="openai", route="chat", key_id=7, cost_usd=Decimal("9"))  # no session
    # fmt: on


def test_sessions_sum_every_row_of_their_key_in_them(logged: None) -> None:
    found = {r["session"]: r for r in agent_runs.sessions()}
    assert set(found) == {"s1", "s2"}
    s1 = found["s1"]
    assert s1["agent"] == "planner" and s1["key"] == "caller" and s1["runs"] == 2
    assert s1["requests"] == 4 and s1["cost_usd"] == Decimal("0.45") and s1["tokens"] == 8
    assert found["s2"]["agent"] == "helper" and found["s2"]["key"] == "other"


def test_by_agent_a_session_with_a_run_down_its_chain_is_listed(logged: None) -> None:
    helper = agent_runs.sessions(filters={"agent": "helper"})
    assert sorted(r["session"] for r in helper) == ["s1", "s2"]
    planner = agent_runs.sessions(filters={"agent": "planner"})
    assert [r["session"] for r in planner] == ["s1"]
    assert agent_runs.sessions(filters={"key": "other"})[0]["session"] == "s2"
    with pytest.raises(agent_runs.BadRunQuery):
        agent_runs.sessions(filters={"route": "chat"})


def test_the_api_groups_by_agent_session(logged: None, settings) -> None:  # type: ignore[no-untyped-def]
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    answer = api.get("/api/spend", {"group_by": "agent_session", "agent": "planner"})
    assert answer.status_code == 200, answer.content
    (only,) = answer.json()["items"]
    assert only["session"] == "s1" and only["runs"] == 2 and only["agent"] == "planner"
    assert Decimal(str(only["cost_usd"])) == Decimal("0.45")
    csv = api.get("/api/spend", {"group_by": "agent_session", "format": "csv"})
    assert csv.status_code == 200 and b"agent_session" in csv.content and b"s1" in csv.content
    for bad in ({"group_by": "agent_session,key"}, {"group_by": "agent_session", "route": "x"}):
        assert api.get("/api/spend", bad).status_code == 422


def test_the_agents_page_lists_its_sessions(logged: None, admin_client) -> None:  # type: ignore[no-untyped-def]
    agent = A2aAgent.objects.create(
        name="planner", url="https://agents.example/planner", card={},
        session_budget_usd=Decimal("3"),
    )  # fmt: skip
    page = admin_client.get(f"/a2a-agents/{agent.pk}/")
    assert page.status_code == 200
    assert b"Recent sessions" in page.content and b"?session=s1" in page.content
    assert b"a session" in page.content  # its budget per session, said beside the table
