"""Money lost to cache misses told to the alert channels
(``gateway.features.cache_doctor.alerting``), from a replayed agent trace in the journal
(``conftest.trace``): a route past the threshold once a UTC day under a lease."""

from __future__ import annotations

from decimal import Decimal

import pytest

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_route_losing_money_is_told_to_the_alert_channels_once_a_day(trace, settings) -> None:
    """Yesterday's losses past the threshold go to the channels (the notice says the
    route, the dollars and the fix); a second round the same day takes no lease."""
    import asyncio
    from datetime import timedelta

    from gateway.base import hooks
    from gateway.features.alerts.delivery import notice_text
    from gateway.features.cache_doctor import alerting
    from gateway.models import RequestLog

    RequestLog.objects.update(created_at=alerting.yesterday() + timedelta(hours=3))
    told: list[dict] = []

    async def channel(notice: dict) -> list[str]:
        told.append(notice)
        return ["test"]

    hooks.notices.register(channel)
    try:
        settings.SWITCHYARD_CACHE_LOSS_ALERT_USD = 0.5  # the volatile route lost $0.27
        assert asyncio.run(alerting.round_once()) == []
        settings.SWITCHYARD_CACHE_LOSS_ALERT_USD = 0.2
        from gateway.models import SingletonLease

        SingletonLease.objects.filter(pk=alerting.LEASE_NAME).delete()
        assert asyncio.run(alerting.round_once()) == ["volatile"]
        assert asyncio.run(alerting.round_once()) is None  # today's lease is held
    finally:
        hooks.notices.unregister(channel)
    (notice,) = told
    assert notice["kind"] == "cache_loss" and notice["lost_usd"] == Decimal("0.27")
    title, text = notice_text(notice)
    assert (
        title == f"Switchyard: route volatile lost $0.27 to prompt-cache misses on {notice['day']}"
    )
    assert "5 of 5 warm turns" in text and "Fix: the cached prefix is not read back" in text
