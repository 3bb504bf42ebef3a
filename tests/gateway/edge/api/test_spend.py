"""Spend by agent run and by A2A session answer through one shape: the grouping alone,
no buckets, and only their own filters (a 422 naming what is refused)."""

from __future__ import annotations

import pytest
from ninja.errors import HttpError

from gateway.edge.api.spend import SpendFilters, run_figures, session_figures


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
