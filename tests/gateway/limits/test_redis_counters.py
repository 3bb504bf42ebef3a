"""The limits' counters in Redis (``gateway.limits.redis_counters``), on the local Redis
under the test's own key prefix (skipped only when Redis is not running): requests per
minute shared through Redis, a budget loaded from the log once and held by requests
in flight, a key and its team admitted and
settled in one round trip, deployments' minutes capped."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from gateway.base.entries import KeyEntry, TeamEntry
from gateway.base.errors import RateLimited
from gateway.limits import redis_counters, subjects
from gateway.limits.redis_counters import RedisCounters
from gateway.limits.spend import period_bounds
from gateway.limits.subjects import subjects_of
from tests.gateway.conftest import REDIS_URL

AT = 1_767_225_600.0 + 3600  # 2026-01-01T01:00Z
UNITS = 100_000_000
PERIOD = period_bounds("month", AT)[0]
TEAM = TeamEntry(4, "research", None, None, Decimal(10), "month")


def key(**fields: Any) -> KeyEntry:
    base: dict[str, Any] = dict(
        id=3, name="k", prefix="sy-k", routes=None, rpm_limit=None, tpm_limit=None,
        budget_usd=Decimal(1), budget_period="month", expires_at=None, revoked=False,
    )  # fmt: skip
    return KeyEntry(**{**base, **fields})


@pytest.fixture
async def redis(own_redis, monkeypatch, settings):  # type: ignore[no-untyped-def]
    """A client of the limits' test database; the log's spend is $0.40 a counter."""
    client = await own_redis(REDIS_URL)
    settings.SWITCHYARD_BUDGET_HOLD_SECONDS = 30
    reads: list[Any] = []

    async def spend(counter: Any, *args: Any) -> Decimal:
        reads.append(getattr(counter, "id", counter))
        return Decimal("0.4")

    monkeypatch.setattr(redis_counters, "key_spend", spend)
    monkeypatch.setattr(redis_counters, "counter_spend", spend)
    client.reads = reads
    made.clear()
    yield client
    for counters in made:
        if counters._client is not None:
            await counters._client.aclose()


made: list[RedisCounters] = []


def store() -> RedisCounters:
    """Counters of one process (its own client; closed after the test)."""
    made.append(RedisCounters(REDIS_URL))
    return made[-1]


def test_a_keys_names_are_under_the_prefix(monkeypatch) -> None:
    monkeypatch.setattr(subjects, "REDIS_PREFIX", "p")
    assert RedisCounters.names(key(), "m1") == ["p:3:requests", "p:3:tokens", "p:3:spend:m1"]
    assert RedisCounters.hold_names(key(), "m1") == ["p:3:holds:m1", "p:3:hold-expiries:m1"]
    assert RedisCounters.deployment_name(9, 100) == "p:deployment:9:100"


async def test_requests_per_minute_are_counted_for_every_process(redis) -> None:
    one, two = store(), store()
    limited = key(budget_usd=None, rpm_limit=2)
    await one.admit(limited, 0, AT)
    await two.admit(limited, 0, AT + 1)
    with pytest.raises(RateLimited, match="2 requests per minute"):
        await one.admit(limited, 0, AT + 2)


async def test_a_budget_is_loaded_once_and_counted_in_redis(redis) -> None:
    counters = store()
    spend_name = RedisCounters.names(key(), PERIOD)[2]
    admitted = await counters.admit(key(), 0, AT)
    assert int(await redis.get(spend_name)) == 40_000_000 and redis.reads == [3]
    assert await redis.ttl(spend_name) > 0  # kept past the period's end, not forever
    await counters.settle(key(), admitted, 0, Decimal("0.6"), AT)
    assert int(await redis.get(spend_name)) == UNITS
    with pytest.raises(RateLimited, match="exhausted"):
        await counters.admit(key(), 0, AT)
    assert redis.reads == [3]


async def test_a_hold_is_taken_and_given_back(redis) -> None:
    counters = store()
    held = await counters.admit(key(), 0, AT, hold=UNITS // 2)
    assert held.hold is not None
    with pytest.raises(RateLimited, match="in flight"):
        await counters.admit(key(), 0, AT, hold=UNITS // 2)
    await counters.settle(key(), held, 0, Decimal(0), AT)
    assert (await counters.admit(key(), 0, AT, hold=UNITS // 2)).hold is not None


async def test_a_key_and_its_team_in_one_round_trip(redis) -> None:
    counters = store()
    both = subjects_of(key(team=TEAM))
    joint = await counters.admit_joint(both, 0, AT, hold=UNITS // 10)
    assert [part[2] for part in joint.parts] == [PERIOD, PERIOD]
    assert sorted(map(str, redis.reads)) == ["-4", "3"]
    await counters.settle_joint(joint, 0, Decimal("0.6"), AT)
    team_spend = f"{both[1].redis_base()}:spend:{PERIOD}"
    assert int(await redis.get(team_spend)) == UNITS
    with pytest.raises(RateLimited, match="this API key's budget"):
        await counters.admit_joint(both, 0, AT)


async def test_a_deployments_minute_is_capped(redis) -> None:
    counters = store()
    assert await counters.claim_deployment(9, 1, 0, 100)
    assert not await counters.claim_deployment(9, 1, 0, 100)
    await counters.deployment_used(9, 101, 50)
    assert not await counters.claim_deployment(9, 0, 50, 101)
    assert 0 < await redis.ttl(RedisCounters.deployment_name(9, 101)) <= 120
