"""A user's own limits (``Profile``: rpm, tpm, budget) count across every key they own,
as a team's do, in each store (this process, the counter service, Redis), and their
spend comes back from the request log after a restart."""

from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.base.counters import SOCKET_ENV
from gateway.base.entries import UserEntry
from gateway.base.errors import RateLimited
from gateway.limits import limits, spend, subjects
from tests.gateway.limits.test_limits import START, key
from tests.gateway.limits.test_limits_team import team

_user_ids = iter(range(700, 10_000))


def user(**limits_) -> UserEntry:
    fields = dict(
        id=next(_user_ids),
        name="ann",
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=None,
        budget_period="total",
    )
    fields.update(limits_)
    return UserEntry(**fields)


async def spend_across_two_keys(owner: UserEntry) -> None:
    """Two keys of a user with $1.00 spend $0.60 each: the third request is refused,
    naming the user, though neither key has a budget of its own."""
    a, b = key(owner=owner, user_id=owner.id), key(owner=owner, user_id=owner.id)
    first = await limits.admit(a, "echo", 10)
    await first.settle(10, Decimal("0.60"))
    second = await limits.admit(b, "echo", 10)
    await second.settle(10, Decimal("0.60"))
    for k in (a, b):
        with pytest.raises(RateLimited) as raised:
            await limits.admit(k, "echo", 10)
        assert raised.value.code == "budget_exceeded"
        assert "user ann's budget" in raised.value.message
    # another user's key is not affected
    other = user(budget_usd=Decimal("1"))
    await limits.admit(key(owner=other, user_id=other.id), "echo", 10)


async def rpm_across_two_keys(owner: UserEntry) -> None:
    a, b = key(owner=owner, rpm_limit=100), key(owner=owner)
    await limits.admit(a, "echo", 1)
    await limits.admit(b, "echo", 1)
    with pytest.raises(RateLimited) as raised:
        await limits.admit(a, "echo", 1)
    assert raised.value.code == "rate_limit_exceeded"
    assert "user ann's limit of 2 requests" in raised.value.message


async def test_user_budget_counts_every_key_they_own(clock, no_spend_yet):
    await spend_across_two_keys(user(budget_usd=Decimal("1.00")))


async def test_user_rpm_counts_every_key_they_own(clock, no_spend_yet):
    await rpm_across_two_keys(user(rpm_limit=2))


async def test_user_team_and_key_are_three_counters_that_do_not_collide(clock, no_spend_yet):
    """A user whose id equals a key's id and a team's id: each keeps its own counter."""
    owner = user(id=42, rpm_limit=1)
    k = key(id=42, owner=owner, team=team(id=42, rpm_limit=5), rpm_limit=5)
    await limits.admit(k, "echo", 1)
    store = limits.memory.store
    assert store.windows[42].requests == 1
    assert store.windows[-42].requests == 1
    assert store.windows["user:42"].requests == 1
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 1)
    assert "user ann's" in raised.value.message
    assert store.windows[42].requests == 1  # the refusal reserved nothing


async def test_a_user_without_limits_changes_nothing(clock):
    reservation = await limits.admit(key(owner=None), "echo", 1)
    assert reservation.backend is None


async def test_user_budget_is_restored_from_the_spend_loader(clock, monkeypatch):
    """After a restart the counters are empty: the user's spend is read (once) through
    ``load_counter_spend`` under the user's counter id."""
    asked: list[object] = []

    async def spent(counter_id, start):  # type: ignore[no-untyped-def]
        asked.append(counter_id)
        return Decimal("1.00") if counter_id == "user:77" else Decimal("0")

    monkeypatch.setattr(spend, "load_counter_spend", spent)
    k = key(owner=user(id=77, budget_usd=Decimal("1.00")))
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 1)
    assert "user ann's budget" in raised.value.message
    assert "user:77" in asked


@pytest.mark.django_db
def test_user_spend_loads_from_the_request_log_of_all_their_keys() -> None:
    from django.contrib.auth.models import User

    from gateway.models import ApiKey, RequestLog

    ann, bob = User.objects.create(username="ann"), User.objects.create(username="bob")
    for name, owner, cost in (("a1", ann, "0.30"), ("a2", ann, "0.45"), ("b1", bob, "9")):
        row = ApiKey.objects.create(name=name, prefix=f"sy-{name}", key_hash=name * 32, user=owner)
        RequestLog.objects.create(
            request_id=f"r-{name}",
            route="chat",
            dialect="openai",
            endpoint="chat",
            status=200,
            key_id=row.pk,
            key_name=name,
            cost_usd=Decimal(cost),
        )
    assert spend._owned_spend_sync({"user_id": ann.pk}, None) == Decimal("0.75")


# --- the counter service and Redis -------------------------------------------------------


async def test_shared_service_user_budget_and_rpm(clock, service, monkeypatch, no_spend_yet):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    await spend_across_two_keys(user(budget_usd=Decimal("1.00")))
    await rpm_across_two_keys(user(rpm_limit=2))
    assert any(isinstance(k, str) and k.startswith("user:") for k in service.store.limits.windows)


@pytest.mark.services
async def test_redis_user_budget_and_rpm(redis_limits, monkeypatch, no_spend_yet):
    monkeypatch.setattr(spend, "now", lambda: START)
    await spend_across_two_keys(user(budget_usd=Decimal("1.00")))
    owner = user(rpm_limit=2)
    await rpm_across_two_keys(owner)
    assert await redis_limits.exists(f"{subjects.REDIS_PREFIX}:user:{owner.id}:requests")


# --- the snapshot carries the owner's limits (no query on the request path) ----------------


@pytest.mark.django_db
def test_snapshot_carries_the_owner_limits() -> None:
    from django.contrib.auth.models import User

    from gateway.access.registry import build_snapshot
    from gateway.models import ApiKey, Profile

    ann, bob = User.objects.create(username="ann"), User.objects.create(username="bob")
    Profile.objects.create(user=ann, role="member", rpm_limit=9, budget_usd=Decimal("2"))
    Profile.objects.create(user=bob, role="member")
    mine = ApiKey.objects.create(name="a", prefix="sy-a", key_hash="a" * 64, user=ann)
    theirs = ApiKey.objects.create(name="b", prefix="sy-b", key_hash="b" * 64, user=bob)
    snap = build_snapshot()
    owner = snap.keys[mine.key_hash].owner
    assert owner is not None and owner.rpm_limit == 9 and owner.budget_usd == Decimal("2")
    assert owner.name == "ann" and owner.budget_period == "month"
    assert snap.keys[theirs.key_hash].owner is None  # no limits: nothing to count
