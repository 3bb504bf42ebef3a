"""Spend and usage by request tag: hourly ``TagSpendRollup`` rows (hour, tag, key) kept by
the journal writer beside the spend rollups, and the query ``/api/spend?group_by=tag``
and the spend page's tag table read (never the request log).

A request with several tags adds to each tag's row, so the rows of several tags do not
sum to the total spend: a tag's row answers "what did this tag cost". Its own module
(and the spend page's own partial) so the tag grouping moves wherever spend is shown.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, timedelta
from typing import Any, Unpack

from django.db.models import F
from django.db.models.functions import Trunc

from gateway.models.tags import TagSpendRollup
from gateway.telemetry.rollups import hour_floor, prune_hours, retention_days
from gateway.telemetry.spend import (
    LIMIT,
    Asked,
    add_groups,
    count_into,
    grouped_totals,
    within,
)

GROUP_FIELDS = ("hour", "tag", "key_id", "key_name")
DIMENSIONS = {"tag": "tag", "key": "key_name"}  # what a tag query may group by


def tally(
    rows: Iterable[tuple[Any, ...]], into: dict[tuple[Any, ...], list[Any]] | None = None
) -> dict[tuple[Any, ...], list[Any]]:
    """Sum ``rows`` (created, tags, key_id, key_name, status, input, output, cache read,
    cache write, cost) per (hour, tag, key id, key name): {group: [COUNTERS...]}."""
    groups: dict[tuple[Any, ...], list[Any]] = {} if into is None else into
    hour_of_log = hour_floor()
    for created, tags, key_id, key_name, status, *usage in rows:
        if not tags:
            continue
        hour = hour_of_log(created)
        for tag in tags:
            group = (hour, tag, key_id or 0, key_name or "")
            count_into(groups, group, status, usage)
    return groups


def add(groups: dict[tuple[Any, ...], list[Any]]) -> None:
    """Add ``groups`` to their tag rollup rows, inside the caller's transaction, as
    ``spend.add`` does."""
    add_groups(TagSpendRollup, GROUP_FIELDS, groups)


def prune_expired(max_batches: int) -> int:
    """The journal's pruning round: tag rollups past the usage rollups' retention."""
    if days := retention_days():
        return prune_hours(TagSpendRollup, timedelta(days=days), max_batches)
    return 0


class BadTagQuery(ValueError):
    """A tag query grouping by something only the spend rollups have (422 for /api)."""


def query(
    group_by: Iterable[str] = ("tag",), bucket: str | None = None, **asked: Unpack[Asked]
) -> list[dict[str, Any]]:
    """Spend, tokens and requests per tag (and key, and time bucket), costliest first,
    in the rows ``spend.query`` returns."""
    names = list(dict.fromkeys(n.strip() for n in group_by if n.strip()))
    filters = asked.get("filters") or {}
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown or any(f not in DIMENSIONS for f in filters):
        raise BadTagQuery(
            f"grouped or filtered by tag, spend goes only by {' and '.join(DIMENSIONS)}"
        )
    rows = within(TagSpendRollup.objects.all(), asked)
    for name, value in filters.items():
        rows = rows.filter(**{DIMENSIONS[name]: value})
    keys: dict[str, Any] = {n: F(DIMENSIONS[n]) for n in names}
    if bucket is not None:
        keys["bucket"] = Trunc("hour", bucket, tzinfo=UTC)
    return grouped_totals(rows, keys, names, asked.get("limit", LIMIT))
