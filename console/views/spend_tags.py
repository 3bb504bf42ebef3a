"""The spend page's table by request tag, apart from the page's own tables so it moves
with spend wherever spend is shown: read from the tag spend rollups
(``gateway.telemetry.tag_spend``). A request with several tags counts under each, so the
rows do not add up to the page's total; only the key filter applies (the tag rollups
are per tag and key)."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from gateway.telemetry import tag_spend

TABLE_ROWS = 50


def tag_section(
    since: datetime, filters: dict[str, str], key_ids: Collection[int] | None = None
) -> dict[str, Any]:
    """What ``console/_spend_by_tag.html`` shows: the costliest tags in the window
    (of ``key_ids`` only, when given: a reader's own keys)."""
    kept = {name: value for name, value in filters.items() if name == "key"}
    rows = tag_spend.query(["tag"], since=since, filters=kept, limit=100_000, key_ids=key_ids)
    return {
        "rows": rows[:TABLE_ROWS],
        "total": len(rows),
        "ignored": sorted(name for name in filters if name != "key"),
    }
