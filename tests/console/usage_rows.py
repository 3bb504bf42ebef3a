"""The hourly rollups the usage figures' tests read (``tests/console/test_usage.py``)
and the usage export's (``tests/console/views/test_usage.py``), through the ``rollups``
and ``usage_today`` fixtures of tests/console/conftest.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import timezone

from gateway.models import UsageRollup


def this_morning() -> datetime:
    """Ten o'clock (UTC) today."""
    now: datetime = timezone.now()
    return now.astimezone(UTC).replace(hour=10, minute=0, second=0, microsecond=0)


def rollup(
    today: datetime, days_ago: int, key_id: int, key_name: str, route: str, cost: str, **more: int
) -> UsageRollup:
    return UsageRollup(
        hour=today - timedelta(days=days_ago),
        route=route,
        key_id=key_id,
        key_name=key_name,
        dialect="openai",
        status_class=2,
        requests=more.get("requests", 3),
        errors=more.get("errors", 0),
        input_tokens=10,
        output_tokens=20,
        cost_usd=Decimal(cost),
    )


def key_rollups(today: datetime) -> None:
    """Keys research (two routes, three days), ci and the master key, and a research
    row 45 days back (outside 30 days, inside 90)."""
    UsageRollup.objects.bulk_create(
        [
            rollup(today, 0, 1, "research", "chat", "0.50"),
            rollup(today, 0, 1, "research", "embed", "0.25"),
            rollup(today, 2, 1, "research", "chat", "1.00"),
            rollup(today, 1, 2, "ci", "chat", "0.0004", errors=1),
            rollup(today, 0, 0, "master", "chat", "0"),
            rollup(today, 45, 1, "research", "chat", "9.00"),
        ]
    )
