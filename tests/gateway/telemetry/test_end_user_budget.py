"""A key's ``max_budget_per_user``: each end user of the key gets that budget per budget
period, enforced like the key's own (same store, holds, period; loaded once from the
request log, counting only that end user's spend), in memory and through Redis; a key
without it costs no extra round trip."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.base.entries import KeyEntry
from gateway.base.errors import RateLimited
from gateway.limits import limits, subjects
from gateway.limits import spend as spending
from gateway.models import RequestLog

START = datetime(2026, 3, 10, 12, 0, 0, tzinfo=UTC).timestamp()
REDIS_DB = "redis://127.0.0.1:6379/15"
_ids = iter(range(50_000, 60_000))


def key(**fields) -> KeyEntry:
    values = dict(
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
    values.update(fields)
    return KeyEntry(**values)


@pytest.fixture
def memory(monkeypatch, settings):
    settings.REDIS_URL = ""
    monkeypatch.delenv("SWITCHYARD_LIMITS_SOCKET", raising=False)
    monkeypatch.setattr(spending, "now", lambda: START)
    limits.reset()
    yield
    limits.reset()


@pytest.fixture
async def redis_backend(monkeypatch, settings, own_redis):
    client = await own_redis(REDIS_DB)
    settings.REDIS_URL = REDIS_DB
    monkeypatch.setattr(spending, "now", lambda: START)
    limits.reset()
    yield client
    limits.reset()


async def spend(k: KeyEntry, end_user: str, cost: str) -> None:
    reservation = await limits.admit(k, "echo", 10, Decimal("0.01"), end_user)
    await reservation.settle(10, Decimal(cost))


async def check_per_user_budget(k: KeyEntry) -> None:
    await spend(k, "alice", "0.60")
    await spend(k, "alice", "0.50")  # admitted at 0.60 of 1.00: one request may overrun
    with pytest.raises(RateLimited) as refused:
        await limits.admit(k, "echo", 10, Decimal("0.01"), "alice")
    assert refused.value.code == "budget_exceeded"
    assert "end user's budget" in refused.value.message and "$1.1000 spent" in refused.value.message
    assert refused.value.retry_after and refused.value.retry_after > 3600  # the month's end
    await spend(k, "bob", "0.90")  # bob has a budget of his own
    await spend(k, "", "5.00")  # no end user named: only the key's limits apply


@pytest.mark.django_db(transaction=True)
async def test_each_end_user_has_the_keys_per_user_budget_in_memory(memory):
    await check_per_user_budget(key(max_budget_per_user=Decimal("1.00")))


@pytest.mark.django_db(transaction=True)
async def test_each_end_user_has_the_keys_per_user_budget_through_redis(redis_backend):
    k = key(max_budget_per_user=Decimal("1.00"))
    await check_per_user_budget(k)
    names = [n.decode() for n in await redis_backend.keys(f"{subjects.REDIS_PREFIX}:*:user:*")]
    assert len({n.split(":spend:")[0] for n in names if ":spend:" in n}) == 2  # alice, bob


@pytest.mark.django_db(transaction=True)
async def test_the_period_spend_is_loaded_from_that_end_users_logs_only(memory):
    k = key(max_budget_per_user=Decimal("1.00"), budget_period="total")
    moment = datetime.fromtimestamp(START, UTC)
    for user, cost in (("alice", "0.95"), ("bob", "0.10"), (None, "3.00")):
        await RequestLog.objects.acreate(
            request_id="r", key_id=k.id, end_user=user, cost_usd=Decimal(cost), created_at=moment
        )
    await spend(k, "alice", "0.06")  # 0.95 spent before: admitted, now 1.01
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 10, Decimal("0.01"), "alice")
    await spend(k, "bob", "0.10")


@pytest.mark.django_db(transaction=True)
async def test_the_keys_own_budget_still_holds_for_every_end_user(memory):
    k = key(budget_usd=Decimal("1.00"), max_budget_per_user=Decimal("5.00"))
    await spend(k, "alice", "0.70")
    await spend(k, "bob", "0.40")
    with pytest.raises(RateLimited) as refused:
        await limits.admit(k, "echo", 10, Decimal("0.01"), "carol")
    assert "this API key's budget" in refused.value.message


async def test_no_per_user_budget_no_extra_round_trip(memory, monkeypatch):
    asked = []
    real = limits.memory.ask

    async def counting(*request):
        asked.append(request[0])
        return await real(*request)

    monkeypatch.setattr(limits.memory, "ask", counting)
    monkeypatch.setattr(spending, "load_spend", _nothing)
    k = key(budget_usd=Decimal("10"))
    reservation = await limits.admit(k, "echo", 10, Decimal("0.01"), "alice")
    assert asked == ["admit", "admit"] and reservation.end_user is None  # the 2nd: loaded
    with_users = key(
        budget_usd=Decimal("10"), max_budget_per_user=Decimal("1"), budget_period="total"
    )
    asked.clear()
    await limits.admit(with_users, "echo", 10, Decimal("0.01"), "alice")
    assert asked == ["admit"] * 4  # the key's (loaded once), then its end user's (same)
    asked.clear()
    await limits.admit(k, "echo", 10, Decimal("0.01"), "alice")
    assert asked == ["admit"]  # a key without per-user budgets: one round trip


async def _nothing(key_id, start, end_user=None):
    return Decimal(0)
