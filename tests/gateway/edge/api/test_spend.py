"""Spend by agent run and by A2A session answer through one shape: the grouping alone,
no buckets, and only their own filters (a 422 naming what is refused)."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import pytest
from ninja.errors import HttpError

from gateway.edge.api.spend import SpendFilters, figures, run_figures, session_figures
from gateway.telemetry import agent_runs, spend, tag_spend


@pytest.mark.parametrize(
    ("figures", "given", "refusal"),
    [
        (run_figures, {"group_by": "agent_run,key"}, "group_by=agent_run goes alone"),
        (session_figures, {"group_by": "agent_session,key"}, "group_by=agent_session goes alone"),
        (run_figures, {"group_by": "agent_run", "bucket": "day"}, "no time buckets"),
        (run_figures, {"group_by": "agent_run", "session": "s"}, "agent, agent_run and key"),
        (
            session_figures,
            {"group_by": "agent_session", "agent_run": "r"},
            "agent, session and key",
        ),
        (session_figures, {"group_by": "agent_session", "route": "r"}, "agent, session and key"),
    ],
)
def test_what_each_grouping_refuses(figures, given, refusal) -> None:
    with pytest.raises(HttpError) as refused:
        figures(SpendFilters(**given), None, None)
    assert refused.value.status_code == 422 and refusal in str(refused.value)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("figures", "given", "dimension"),
    [
        (run_figures, {"group_by": "agent_run", "agent_run": "run-1"}, "agent_run"),
        (session_figures, {"group_by": "agent_session", "session": "ctx-1"}, "agent_session"),
    ],
)
def test_each_grouping_takes_its_own_filter(figures, given, dimension) -> None:
    assert figures(SpendFilters(**given), None, None) == ([dimension], [])


GROUPINGS = [
    ({"group_by": "key", "route": "r"}, {"route": "r"}),
    ({"group_by": "tag", "tag": "t"}, {"tag": "t"}),
    ({"group_by": "agent_run", "agent": "a"}, {"agent": "a"}),
    ({"group_by": "agent_session", "key": "k"}, {"key": "k"}),
]


@pytest.mark.parametrize(("given", "filters"), GROUPINGS)
def test_every_grouping_asks_its_query_the_moments_filters_and_cap_alike(
    monkeypatch, given, filters
) -> None:
    asked: dict[str, Any] = {}

    def query(*grouping: Any, **kwargs: Any) -> list[dict[str, Any]]:
        asked.update(kwargs)
        return []

    for module, name in ((spend, "query"), (tag_spend, "query"), (agent_runs, "query")):
        monkeypatch.setattr(module, name, query)
    monkeypatch.setattr(agent_runs, "sessions", query)
    request = SimpleNamespace(GET={"from": "7d", "to": "1700000000"})
    figures(request, SpendFilters(**given, limit=50_000))
    assert isinstance(asked["since"], datetime) and asked["since"] > asked["until"]
    assert asked["until"] == datetime.fromisoformat("2023-11-14T22:13:20+00:00")
    assert asked["filters"] == filters and asked["limit"] == 10_000  # the given ones only
    figures(SimpleNamespace(GET={}), SpendFilters(**given, limit=0))
    assert asked["since"] is None and asked["until"] is None and asked["limit"] == 1
    with pytest.raises(HttpError) as refused:
        figures(SimpleNamespace(GET={"to": "soon"}), SpendFilters(**given))
    assert refused.value.status_code == 422 and "to" in str(refused.value)
