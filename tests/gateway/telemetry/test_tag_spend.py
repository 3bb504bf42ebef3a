"""Spend by request tag (``gateway.telemetry.tag_spend``): each tag of a log adds to its own
(hour, tag, key) row, untagged logs to none; the query groups by tag and key only (a
dimension only the spend rollups have is refused), costliest first; rows past the
rollups' retention are pruned."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.models.tags import TagSpendRollup
from gateway.telemetry import tag_spend

pytestmark = pytest.mark.django_db
T = datetime(2026, 3, 4, 5, 12, tzinfo=UTC)
HOUR = T.replace(minute=0)


def log(tags, key_id=1, key="ci", status=200, cost="0.5", at=T):  # type: ignore[no-untyped-def]
    return (at, tags, key_id, key, status, 10, 2, 1, 0, Decimal(cost))


def test_each_tag_of_a_log_adds_to_its_own_row_and_untagged_logs_to_none() -> None:
    groups = tag_spend.tally(
        [log(["a", "b"]), log(["a"], status=500, cost="0.25"), log([]), log(None)]
    )
    assert groups == {
        (HOUR, "a", 1, "ci"): [2, 1, 20, 4, 2, 0, Decimal("0.75")],
        (HOUR, "b", 1, "ci"): [1, 0, 10, 2, 1, 0, Decimal("0.5")],
    }
    master = tag_spend.tally([log(["a"], key_id=None, key=None)], into=groups)
    assert master is groups and (HOUR, "a", 0, "") in groups


def test_added_groups_sum_into_their_rows_and_read_back_costliest_first() -> None:
    tag_spend.add(tag_spend.tally([log(["a", "b"]), log(["a"], key_id=2, key="web")]))
    tag_spend.add(tag_spend.tally([log(["a"])]))  # the same row again: added to it
    assert TagSpendRollup.objects.get(tag="a", key_id=1).requests == 2
    by_tag = tag_spend.query()
    assert [(row["tag"], row["requests"], row["cost_usd"]) for row in by_tag] == [
        ("a", 3, Decimal("1.50000000")),
        ("b", 1, Decimal("0.50000000")),
    ]
    assert by_tag[0]["tokens"] == 3 * 13
    web = tag_spend.query(group_by=["tag", "key"], filters={"key": "web"})
    assert [(row["tag"], row["key"]) for row in web] == [("a", "web")]
    assert [row["tag"] for row in tag_spend.query(key_ids=[2])] == ["a"]
    assert tag_spend.query(since=T + timedelta(hours=1)) == []
    assert tag_spend.query(until=HOUR) == []
    bucketed = tag_spend.query(bucket="day")
    assert bucketed[0]["bucket"] == "2026-03-04T00:00:00+00:00"


@pytest.mark.parametrize(("group_by", "filters"), [(["route"], None), (["tag"], {"session": "s"})])
def test_a_dimension_only_the_spend_rollups_have_is_refused(group_by, filters) -> None:
    with pytest.raises(tag_spend.BadTagQuery, match="only by tag and key"):
        tag_spend.query(group_by=group_by, filters=filters)


def test_rows_past_the_retention_are_pruned_and_none_without_one(settings) -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    tag_spend.add(tag_spend.tally([log(["a"], at=old), log(["a"], at=datetime.now(UTC))]))
    settings.SWITCHYARD_ROLLUP_RETENTION_DAYS = 0
    assert tag_spend.prune_expired(5) == 0
    settings.SWITCHYARD_ROLLUP_RETENTION_DAYS = 30
    assert tag_spend.prune_expired(5) == 1
    assert TagSpendRollup.objects.count() == 1
