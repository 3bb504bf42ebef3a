"""Spend for budgets (``gateway.limits.spend``): a budget period's bounds, the spend a
counter loads."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.limits import spend


def test_period_bounds():
    at = datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()
    assert spend.period_bounds("day", at)[0] == "d2026-12-31"
    period, start, end = spend.period_bounds("month", at)
    assert period == "m2026-12" and start == datetime(2026, 12, 1, tzinfo=UTC)
    assert end == datetime(2027, 1, 1, tzinfo=UTC)
    assert spend.period_bounds("total", at) == ("total", None, None)


@pytest.mark.django_db
def test_a_part_of_a_key_spends_its_own_rows_and_no_batch_hold():
    from gateway.models import RequestLog
    from gateway.models.batches import Batch

    rows = [
        ("ann", "s1", "run1", "0.10"),
        ("ann", "s2", "run1", "0.20"),
        ("bob", "s2", "run2", "0.40"),
    ]
    for end_user, session, run, cost in rows:
        RequestLog.objects.create(
            request_id=uuid.uuid4().hex, key_id=7, dialect="openai", endpoint="chat",
            status=200, cost_usd=Decimal(cost), end_user=end_user, session=session,
            agent_run=run, created_at=datetime.now(UTC),
        )  # fmt: skip
    Batch.objects.create(
        id="msgbatch_a", api="anthropic", endpoint="/v1/messages", key_id=7,
        status="in_progress", native="anthropic", held_usd=Decimal("1.00"),
        created_at=datetime.now(UTC), expires_at=datetime.now(UTC) + timedelta(hours=24),
    )  # fmt: skip
    assert spend._load_spend_sync(7, None) == Decimal("1.70")  # the key: its rows and holds
    assert spend._load_spend_sync(7, None, ("end_user", "ann")) == Decimal("0.30")
    assert spend._load_spend_sync(7, None, ("session", "s2")) == Decimal("0.60")
    assert spend._load_spend_sync(7, None, ("agent_run", "run2")) == Decimal("0.40")
