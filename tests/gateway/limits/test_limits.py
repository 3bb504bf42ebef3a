"""Per-key admission: 401/403/429 with Retry-After, token corrections at settle, budgets
loaded once from the request log, and the same limits through Redis."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from gateway.base.entries import MASTER, KeyEntry
from gateway.base.errors import AuthenticationFailed, PermissionDenied, RateLimited
from gateway.limits import limits, spend, subjects
from tests.gateway.conftest import REDIS_URL, START
from tests.gateway.entries import route, snapshot

_ids = iter(range(1000, 100_000))


def key(**limits_) -> KeyEntry:
    fields = dict(
        id=next(_ids),
        name="k",
        prefix="sy-test",
        routes=None,
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=None,
        budget_period="month",
        expires_at=None,
        revoked=False,
    )
    fields.update(limits_)
    return KeyEntry(**fields)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


async def test_revoked_key_is_refused_with_401(clock):
    with pytest.raises(AuthenticationFailed):
        await limits.admit(key(revoked=True), "echo", 10)


async def test_expired_key_is_refused_with_401(clock):
    expired = key(expires_at=datetime.fromtimestamp(START - 1, UTC))
    with pytest.raises(AuthenticationFailed) as raised:
        await limits.admit(expired, "echo", 10)
    assert "expired" in raised.value.message
    fresh = key(expires_at=datetime.fromtimestamp(START + 60, UTC))
    await limits.admit(fresh, "echo", 10)


async def test_route_outside_the_allowed_list_is_403(clock):
    limited = key(routes=frozenset({"echo"}))
    await limits.admit(limited, "echo", 10)
    with pytest.raises(PermissionDenied) as raised:
        await limits.admit(limited, "gpt-4o", 10)
    assert raised.value.status == 403 and "gpt-4o" in raised.value.message


async def test_rpm_limit_gives_429_with_retry_after_until_the_window_frees(clock):
    k = key(rpm_limit=3)
    for offset in (0, 10, 20):
        clock.now = START + offset
        await limits.admit(k, "echo", 1)
    clock.now = START + 30
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 1)
    assert raised.value.status == 429
    assert raised.value.retry_after == pytest.approx(30)  # the request at START leaves at +60
    clock.now = START + 60
    await limits.admit(k, "echo", 1)  # one slot freed
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)


async def test_tpm_reserves_the_estimate_and_settle_corrects_it(clock):
    k = key(tpm_limit=1000)
    first = await limits.admit(k, "echo", 600)
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 600)  # 600 reserved + 600 > 1000
    assert "tokens" in raised.value.message and raised.value.retry_after == pytest.approx(60)
    await first.settle(200, Decimal("0"))  # it really used 200
    await limits.admit(k, "echo", 600)  # 200 + 600 fits


async def test_settle_counts_only_once(clock):
    k = key(tpm_limit=1000)
    reservation = await limits.admit(k, "echo", 100)
    await reservation.settle(900, Decimal("0"))
    await reservation.settle(900, Decimal("0"))
    await limits.admit(k, "echo", 100)  # 900 + 100 fits exactly
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)


async def test_a_request_larger_than_the_tpm_passes_only_alone(clock):
    k = key(tpm_limit=100)
    await limits.admit(k, "echo", 5000)
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)


async def test_master_key_is_never_limited(clock):
    for _ in range(1000):
        reservation = await limits.admit(MASTER, "anything", 10**6)
        await reservation.settle(10**6, Decimal("1000"))


async def test_only_a_reservation_that_counts_something_has_a_settlement(clock):
    """The end of a master-key request starts no settling task; a limited key's does,
    once."""
    assert (await limits.admit(MASTER, "anything", 10)).settlement(10, Decimal(1)) is None
    k = key(tpm_limit=1000)
    reservation = await limits.admit(k, "echo", 100)
    settlement = reservation.settlement(900, Decimal("0"))
    assert settlement is not None
    await settlement
    assert reservation.settlement(900, Decimal("0")) is None  # settled: nothing left
    await limits.admit(k, "echo", 100)  # 900 + 100 fits exactly
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)


async def test_keys_are_counted_apart(clock):
    a, b = key(rpm_limit=1), key(rpm_limit=1)
    await limits.admit(a, "echo", 1)
    await limits.admit(b, "echo", 1)
    with pytest.raises(RateLimited):
        await limits.admit(a, "echo", 1)


def log_cost(key_id: int, cost: str, when: datetime) -> None:
    from gateway.models import RequestLog

    RequestLog.objects.create(
        request_id=uuid.uuid4().hex,
        key_id=key_id,
        dialect="openai",
        endpoint="chat",
        status=200,
        cost_usd=Decimal(cost),
        created_at=when,
    )


@pytest.mark.django_db(transaction=True)
async def test_budget_spent_is_loaded_from_the_log_once_and_kept_counting(clock):
    from asgiref.sync import sync_to_async

    k = key(budget_usd=Decimal("1.00"), budget_period="month")
    this_month = datetime.fromtimestamp(START, UTC) - timedelta(days=2)
    last_month = datetime.fromtimestamp(START, UTC) - timedelta(days=20)
    await sync_to_async(log_cost)(k.id, "0.70", this_month)
    await sync_to_async(log_cost)(k.id, "5.00", last_month)  # another period: not counted

    queries = []
    real_load = spend.load_spend

    async def counting_load(key_id, start):
        queries.append(key_id)
        return await real_load(key_id, start)

    spend.load_spend = counting_load
    try:
        reservation = await limits.admit(k, "echo", 10)  # 0.70 of 1.00 spent
        await reservation.settle(10, Decimal("0.35"))
        with pytest.raises(RateLimited) as raised:
            await limits.admit(k, "echo", 10)
    finally:
        spend.load_spend = real_load
    assert queries == [k.id]
    error = raised.value
    assert error.status == 429 and error.code == "budget_exceeded"
    assert "$1.00" in error.message and "this month" in error.message
    april = datetime(2026, 4, 1, tzinfo=UTC).timestamp()
    assert error.retry_after == pytest.approx(april - START)


@pytest.mark.django_db(transaction=True)
async def test_daily_budget_resets_at_midnight_utc(clock):
    k = key(budget_usd=Decimal("0.10"), budget_period="day")
    reservation = await limits.admit(k, "echo", 10)
    await reservation.settle(10, Decimal("0.20"))
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 10)
    assert raised.value.retry_after == pytest.approx(12 * 3600)
    clock.now = START + 12 * 3600 + 1
    await limits.admit(k, "echo", 10)


@pytest.mark.django_db(transaction=True)
async def test_total_budget_has_no_retry_after(clock):
    k = key(budget_usd=Decimal("0"), budget_period="total")
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 10)
    assert raised.value.retry_after is None and "in total" in raised.value.message


# --- Redis ----------------------------------------------------------------------------------


@pytest.mark.services
async def test_redis_rpm_limit_is_shared_by_every_process(redis_limits):
    k = key(rpm_limit=2)
    await limits.admit(k, "echo", 1)
    limits.reset()  # another process: no local state, same Redis
    await limits.admit(k, "echo", 1)
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 1)
    assert 58 <= raised.value.retry_after <= 60.01
    assert await redis_limits.exists(f"{subjects.REDIS_PREFIX}:{k.id}:requests")
    assert 0 < await redis_limits.ttl(f"{subjects.REDIS_PREFIX}:{k.id}:requests") <= 120


@pytest.mark.services
async def test_redis_tpm_is_corrected_at_settle(redis_limits):
    k = key(tpm_limit=1000)
    first = await limits.admit(k, "echo", 800)
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 300)
    await first.settle(100, Decimal("0"))
    await limits.admit(k, "echo", 300)


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_redis_budget_loads_the_log_once_then_counts_in_redis(redis_limits):
    from asgiref.sync import sync_to_async

    k = key(budget_usd=Decimal("1.00"), budget_period="total")
    await sync_to_async(log_cost)(k.id, "0.60", datetime.now(UTC))
    reservation = await limits.admit(k, "echo", 10)
    spend_key = f"{subjects.REDIS_PREFIX}:{k.id}:spend:total"
    assert int(await redis_limits.get(spend_key)) == 60_000_000
    await reservation.settle(10, Decimal("0.40"))
    assert int(await redis_limits.get(spend_key)) == 100_000_000
    limits.reset()
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 10)
    assert raised.value.code == "budget_exceeded" and raised.value.retry_after is None


async def test_unreachable_redis_falls_back_to_process_counters(settings, clock):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    k = key(rpm_limit=1)
    await limits.admit(k, "echo", 1)
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)


# --- through the service: the caller's own dialect ------------------------------------------


@pytest.fixture
def echo_snapshot(snapshot_reset):
    from gateway.access import registry
    from gateway.base.entries import ProviderEntry

    echo = ProviderEntry(1, "echo", "echo", "", "", {}, "", None)
    registry.install(snapshot(route("echo", "echo-1", provider=echo, max_attempts=1)))


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("openai", {"model": "echo", "messages": [{"role": "user", "content": "hi"}]}),
        (
            "anthropic",
            {"model": "echo", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]},
        ),
    ],
)
async def test_rate_limited_reply_is_429_with_retry_after_in_the_callers_dialect(
    clock, echo_snapshot, dialect, body
):
    import orjson

    from gateway.core import service

    k = key(rpm_limit=1)
    raw = orjson.dumps(body)
    first = await service.handle("chat", dialect, raw, {}, service.Caller(key=k))
    assert first.status == 200, first.body
    second = await service.handle("chat", dialect, raw, {}, service.Caller(key=k))
    assert second.status == 429
    assert (b"retry-after", b"60") in second.headers
    error = orjson.loads(second.body)["error"]
    assert error["type"] == "rate_limit_error" and "1 requests per minute" in error["message"]


async def test_disallowed_route_is_403_through_the_service(clock, echo_snapshot):
    import orjson

    from gateway.core import service

    k = key(routes=frozenset({"other"}))
    raw = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
    reply = await service.handle("chat", "openai", raw, {}, service.Caller(key=k))
    assert reply.status == 403


async def test_count_tokens_counts_against_the_keys_rpm(clock, echo_snapshot):
    import orjson

    from gateway.core import service

    k = key(rpm_limit=2)
    chat = orjson.dumps(
        {"model": "echo", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    )
    count = orjson.dumps({"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
    first = await service.handle("count_tokens", "anthropic", count, {}, service.Caller(key=k))
    assert first.status == 200, first.body
    second = await service.handle("chat", "anthropic", chat, {}, service.Caller(key=k))
    assert second.status == 200, second.body
    third = await service.handle("count_tokens", "anthropic", count, {}, service.Caller(key=k))
    assert third.status == 429
    assert orjson.loads(third.body)["error"]["type"] == "rate_limit_error"


@pytest.mark.services
async def test_redis_outage_is_warned_about_once_and_its_end_logged(redis_limits, caplog, settings):
    caplog.set_level("INFO", logger="gateway.limits")
    k = key(rpm_limit=100)

    def messages(level: str) -> list[str]:
        return [
            r.getMessage()
            for r in caplog.records
            if r.name.startswith("gateway.limits.") and r.levelname == level
        ]

    for url in ("redis://127.0.0.1:1/0", REDIS_URL, "redis://127.0.0.1:1/0"):
        settings.REDIS_URL = url
        for _ in range(5):
            await limits.admit(k, "echo", 1)
    assert len(messages("WARNING")) == 2, "one per outage"
    assert all("Redis unavailable" in m for m in messages("WARNING"))
    assert len(messages("INFO")) == 1 and "reachable again" in messages("INFO")[0]
