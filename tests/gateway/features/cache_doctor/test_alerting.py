"""The cache doctor read from a replayed agent trace in the journal, on its console page
and in ``/api/cache-doctor``: a route whose system prompt carries a per-request billing
header (every warm turn a miss, the header named) and writes never read back, beside a
route whose session reads its cache; admins read both surfaces, a member neither."""

from __future__ import annotations

import json
import time
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway import journal
from gateway.access import registry, roles
from gateway.features.cache_doctor import reading
from gateway.models import Deployment, Provider, Route
from tests.console.role_sets import ADMINS, Expectation
from tests.gateway.features.cache_doctor.test_doctor import anthropic_body
from tests.gateway.journal.records import full_record

pytestmark = pytest.mark.django_db(transaction=True)

ROLE_EXPECTATIONS: dict[str, Expectation] = {"cache-doctor": (ADMINS, ADMINS)}


@pytest.fixture(autouse=True)
def bodies_on(settings) -> None:
    settings.SWITCHYARD_LOG_BODIES = True
    settings.SWITCHYARD_LOG_BODY_MAX_BYTES = 256 * 1024


def client_of(role: str) -> Client:
    user, _ = User.objects.get_or_create(username=role)
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def trace(db, django_capture_on_commit_callbacks) -> dict[str, int]:
    """Two routes on one Anthropic provider at Claude's prices, and an agent's session
    on each: 'volatile' sends a new billing header every turn and writes its prompt
    every time; 'steady' writes once and reads after."""
    provider = Provider.objects.create(name="claude", kind="anthropic")
    ids = {}
    for name in ("volatile", "steady"):
        route = Route.objects.create(name=name)
        deployment = Deployment.objects.create(
            route=route, provider=provider, model="claude-sonnet-5", input_price=Decimal(3),
            cache_read_price=Decimal("0.3"), cache_write_price=Decimal("3.75"),
        )  # fmt: skip
        ids[name] = deployment.id
    registry.rebuild()
    start = time.time() - 1800
    records = []
    for n in range(6):
        at = start + 60 * n
        records.append(full_record(
            f"vol-{n}", created_at=at, route="volatile", deployment_id=ids["volatile"],
            session="sess-volatile", input_tokens=40, cache_write_tokens=20_000,
            prompt_cache_breakpoints="auto: system",
            inbound_request=b"", upstream_request=json.dumps(anthropic_body(f"h{n:04d}", n + 1)).encode(),
        ))  # fmt: skip
        records.append(full_record(
            f"std-{n}", created_at=at, route="steady", deployment_id=ids["steady"],
            session="sess-steady", input_tokens=40,
            cache_write_tokens=20_000 if n == 0 else 200, cache_read_tokens=0 if n == 0 else 20_000,
            prompt_cache_breakpoints="auto: system",
            inbound_request=b"", upstream_request=json.dumps(anthropic_body("same", n + 1)).encode(),
        ))  # fmt: skip
    with django_capture_on_commit_callbacks(execute=True):
        journal.write_batch(records)
    return ids


def test_the_doctor_names_the_write_only_route_and_its_volatile_prefix(trace) -> None:
    from datetime import timedelta

    from django.utils import timezone

    report = reading.diagnose(timezone.now() - timedelta(hours=1))
    by_route = {g.name: g for g in report.routes}
    volatile, steady = by_route["volatile"], by_route["steady"]
    assert volatile.misses == 5 and volatile.write_without_read and volatile.hit_rate == 0
    assert volatile.causes == {"volatile prefix": 5}
    assert "system changes between turns" in volatile.volatile[0]
    assert "cch=h000[0→1]" in volatile.volatile[0]
    assert steady.misses == 0 and steady.lost_usd == 0 and not steady.write_without_read
    assert steady.hit_rate == 100_000 / 121_240 and steady.net_usd > 0
    assert {m.turn.route for m in report.misses} == {"volatile"}
    # each miss lost the 20,040 tokens the turns share, at 2.7 $/M
    assert volatile.lost_usd == 5 * Decimal(20_040) * Decimal("2.7") / 1_000_000


def test_the_api_and_the_page_show_it_to_admins_and_not_to_members(trace) -> None:
    admin = client_of("admin")
    answer = admin.get("/api/cache-doctor?hours=2")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    (volatile,) = [g for g in body["routes"] if g["name"] == "volatile"]
    assert volatile["write_without_read"] and volatile["misses"] == 5
    assert volatile["findings"][0]["problem"].startswith("writes without reads")
    assert body["misses"][0]["cause"] == "volatile prefix"
    assert body["misses"][0]["detail"].startswith("system changes between turns")
    one = admin.get("/api/cache-doctor?route=steady").json()
    assert [g["name"] for g in one["routes"]] == ["steady"]

    page = admin.get("/spend/caching/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "writes without reads" in text and "volatile prefix" in text
    assert "cch=h000[0→1]" in text

    member = client_of("member")
    assert member.get("/api/cache-doctor").status_code == 403
    assert member.get("/spend/caching/").status_code == 403


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
