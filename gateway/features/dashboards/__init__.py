"""Dashboards a team shapes (issue #66): charts pinned to a board, a journal metric
grouped by a dimension over a window (``gateway.models.PinnedChart``).

- ``figures``: a chart's figures, bounded reads of the rollups or the journal, cached;
- ``save``: the one pin, unpin and move (rule ``dashboard.pin`` of the board touched);
- ``views`` and ``pages``: the "Pin a chart" form, unpin and reorder, and the board the
  console's dashboard shows (a ``Panel`` of its page, so the console never names this);
- ``api``: ``/api/dashboards``; ``rules``: the rule and the pins' field rules.

A refused pin is a ``ValidationError`` naming its field (a 422 in ``/api``, the form's
error in the console); a board its reader does not see is a 404. ``pin_query``, the
unit's door, is what another page's "Pin a chart" link carries."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

# A board's windows; a page filter over another span is not carried
_WINDOWS = ("1h", "24h", "7d")
# How the pin form names a filter it does not carry
_FILTER_WORDS = {
    "q": "search", "end_user": "end user", "agent_run": "agent run", "since": "from",
    "until": "until",
}  # fmt: skip


def pin_query(filters: Mapping[str, Any]) -> str:
    """The "Pin a chart" link's query for the Logs page's ``filters`` (its cleaned form):
    what a pin can hold is carried (a board's window; "any error" as the errors metric;
    a route filter groups by model, the route's bars being one), and each filter it
    cannot hold is sent as ``unpinned`` ("route: chat"), which the pin form says it
    leaves out, since a pinned chart counts every request of its board."""
    carried: dict[str, str] = {"metric": "requests", "group_by": "route", "window": "24h"}
    unpinned: list[str] = []
    for name, value in filters.items():
        if value in (None, ""):
            continue
        if name == "window" and value in _WINDOWS:
            carried["window"] = str(value)
        elif name == "status" and value == "error":
            carried["metric"] = "errors"
        else:
            unpinned.append(f"{_FILTER_WORDS.get(name, name)}: {value}")
    if "route" in filters and filters["route"]:
        carried["group_by"] = "model"
    return urlencode([*carried.items(), *(("unpinned", u) for u in unpinned)])
