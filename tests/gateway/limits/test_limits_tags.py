"""Tag budgets: a request carrying a tag with limits (``TagBudget``) counts against the
tag's budget and rpm/tpm, across every key, as one more subject of the joint admission
(the key's, its team's, its owner's): the same store (this process, the counter
service, Redis), the same holds, the same single round trip. Requests without tags, or
whose tags have no limits, take exactly the path they took before."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import background
from gateway.base.counters import SOCKET_ENV
from gateway.base.entries import TagEntry
from gateway.base.errors import RateLimited
from gateway.core import service
from gateway.limits import budget_estimate, counters, limits, spend, subjects
from gateway.server.counter_service import CounterService
from tests.gateway.limits.test_budget_holds import ADMITTED, COST, UNITS
from tests.gateway.limits.test_limits import START, key

_tag_ids = iter(range(700, 10_000))


def tag(**limits_) -> TagEntry:
    number = next(_tag_ids)
    fields = dict(
        id=number,
        name=f"project:{number}",
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=None,
        budget_period="total",
    )
    fields.update(limits_)
    return TagEntry(**fields)


@pytest.fixture
def service_(socket_path, monkeypatch):
    running = CounterService(socket_path, max_line_bytes=64 * 1024)
    running.start()
    monkeypatch.setenv(SOCKET_ENV, running.path)
    yield running
    running.stop()


async def spend_across_two_keys(t: TagEntry) -> None:
    """Two keys without limits of their own spend $0.60 each under a $1.00 tag: the
    third request with the tag is refused, naming the tag; the same key with another
    tag, or with none, still passes."""
    a, b = key(), key()
    first = await limits.admit(a, "echo", 10, tags=(t,))
    await first.settle(10, Decimal("0.60"))
    second = await limits.admit(b, "echo", 10, tags=(t,))
    await second.settle(10, Decimal("0.60"))
    for k in (a, b):
        with pytest.raises(RateLimited) as raised:
            await limits.admit(k, "echo", 10, tags=(t,))
        assert raised.value.code == "budget_exceeded"
        assert f"tag {t.name}'s budget of $1.00 in total is exhausted" in raised.value.message
    # control: the path is live, only the tag is spent
    await limits.admit(a, "echo", 10, tags=(tag(budget_usd=Decimal("1")),))
    await limits.admit(a, "echo", 10)


async def rpm_across_two_keys(t: TagEntry) -> None:
    a, b = key(), key(rpm_limit=100)
    await limits.admit(a, "echo", 1, tags=(t,))
    await limits.admit(b, "echo", 1, tags=(t,))
    with pytest.raises(RateLimited) as raised:
        await limits.admit(a, "echo", 1, tags=(t,))
    assert raised.value.code == "rate_limit_exceeded"
    assert f"tag {t.name}'s limit of 2 requests per minute" in raised.value.message
    assert 0 < raised.value.retry_after <= 60
    await limits.admit(a, "echo", 1, tags=(tag(rpm_limit=2),))  # control: another tag


async def test_tag_budget_counts_the_spend_of_every_key(clock, no_spend_yet):
    await spend_across_two_keys(tag(budget_usd=Decimal("1.00")))


async def test_tag_rpm_counts_the_requests_of_every_key(clock, no_spend_yet):
    await rpm_across_two_keys(tag(rpm_limit=2))


async def test_shared_service_tag_budget_and_rpm(clock, service_, no_spend_yet):
    await spend_across_two_keys(tag(budget_usd=Decimal("1.00")))
    await rpm_across_two_keys(tag(rpm_limit=2))


@pytest.mark.services
async def test_redis_tag_budget_and_rpm(redis_limits, monkeypatch, no_spend_yet):
    monkeypatch.setattr(spend, "now", lambda: START)
    t = tag(budget_usd=Decimal("1.00"))
    await spend_across_two_keys(t)
    await rpm_across_two_keys(tag(rpm_limit=2))
    assert await redis_limits.exists(f"{subjects.REDIS_PREFIX}:tag:{t.name}:spend:total")


async def test_every_tag_of_a_request_counts_and_a_refusal_reserves_nothing(clock, no_spend_yet):
    """Checked together, reserved together: the request refused by one of its tags took
    nothing of the key's, its team's or its other tag's allowance."""
    from tests.gateway.limits.test_limits_team import team

    open_, full = tag(rpm_limit=5), tag(rpm_limit=1)
    crew = team(rpm_limit=5)
    k = key(rpm_limit=5, team=crew)
    await limits.admit(k, "echo", 1, tags=(open_, full))
    with pytest.raises(RateLimited, match=f"tag {full.name}'s limit"):
        await limits.admit(k, "echo", 1, tags=(open_, full))
    windows = limits.memory.store.windows
    assert windows[k.id].requests == 1 and windows[-crew.id].requests == 1
    assert windows[spend.tag_counter(open_.name)].requests == 1


async def test_requests_without_tag_limits_take_the_path_they_took(clock, no_spend_yet):
    """A key without limits, its request without tags or with tags that have none: no
    counters at all (no round trip, nothing held)."""
    snapshot_tags = {"capped": tag(name="capped", budget_usd=Decimal("1"))}
    assert subjects.tag_limits({}, ("capped",)) == ()  # no tag budgets defined: no lookup
    assert subjects.tag_limits(snapshot_tags, ()) == ()
    assert subjects.tag_limits(snapshot_tags, ("free", "form")) == ()
    reservation = await limits.admit(key(), "echo", 1, tags=())
    assert reservation.backend is None
    capped = subjects.tag_limits(snapshot_tags, ("free", "capped"))
    assert capped == (snapshot_tags["capped"],)
    assert (await limits.admit(key(), "echo", 1, tags=capped)).backend is limits.memory


def test_a_tag_budget_makes_the_request_hold(settings):
    """A key without any budget holds what its request may cost when one of the
    request's tags has a budget (so a burst cannot overrun the tag's)."""
    from tests.gateway.entries import deployment, route

    paid = dataclasses.replace(
        route("paid", "up-1"),
        deployments=(
            deployment("paid", "up-1", input_price=Decimal("10"), output_price=Decimal("10")),
        ),
    )
    assert budget_estimate.hold_for(key(), paid, 100, 50) is None
    assert budget_estimate.hold_for(key(), paid, 100, 50, tags=(tag(rpm_limit=3),)) is None
    held = budget_estimate.hold_for(key(), paid, 100, 50, tags=(tag(budget_usd=Decimal(1)),))
    assert held == Decimal("0.0015")
    # a realtime session holds the flat amount for a tag's budget too
    settings.SWITCHYARD_BUDGET_RESERVATION_USD = "0.05"
    assert budget_estimate.session_hold(key()) is None
    assert budget_estimate.session_hold(key(), (tag(budget_usd=Decimal(1)),)) == Decimal("0.05")


# --- exact under concurrency, in every store ------------------------------------------------


async def test_a_burst_of_many_keys_gets_exactly_what_the_tag_budget_covers(
    workers,
    no_spend_yet,
):
    """30 requests at once from 5 keys without budgets, on two workers (or instances),
    under one tag with ten requests' worth of budget: exactly 10 are admitted, the rest
    refused naming the tag; settled, the tag's budget is spent for every worker."""
    t = tag(budget_usd=COST * 10, budget_period="month")
    keys = [key() for _ in range(5)]
    per_key = [subjects.subjects_of(k, (t,)) for k in keys]
    calls = [
        workers[n % len(workers)].admit_joint(per_key[n % 5], 10, START, UNITS) for n in range(30)
    ]
    results = await asyncio.gather(*calls, return_exceptions=True)
    admitted = [(n, r) for n, r in enumerate(results) if isinstance(r, (*ADMITTED, subjects.Joint))]
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(admitted) == 10 and len(refused) == 20, results
    assert all(r.code == "budget_exceeded" for r in refused)
    assert f"tag {t.name}'s budget" in refused[0].message and "in flight" in refused[0].message
    for n, admission in admitted:
        await workers[n % len(workers)].settle_joint(admission, 0, COST, START)
    for worker in workers:
        if isinstance(worker, counters.SharedCounters):
            await worker.leases.return_all()
    for worker in workers:
        with pytest.raises(RateLimited) as raised:
            await worker.admit_joint(per_key[0], 10, START, UNITS)
        assert raised.value.code == "budget_exceeded" and "$0.0100 spent" in raised.value.message


# --- through service.handle: the caller's format, the tag from the request ----------------


async def ask_tagged(k, tags_: str, dialect: str = "openai") -> tuple[int, dict]:
    body = {"model": "paid", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {"x-switchyard-tags": tags_}, service.Caller(key=k)
    )
    await background.done()
    return reply.status, orjson.loads(reply.body)


async def test_a_tag_over_budget_is_a_429_budget_exceeded_and_another_tag_passes(
    gateway,
    no_spend_yet,
):
    state, recorded = gateway
    # each request holds its worst case (about $0.0006) and costs $0.00015
    capped = tag(name="proj-a", budget_usd=Decimal("0.0008"))
    other = tag(name="proj-b", budget_usd=Decimal("0.0008"))
    registry.current().tag_limits = {"proj-a": capped, "proj-b": other}
    k = state["key"] = key()  # no budget of its own
    assert (await ask_tagged(k, "proj-a"))[0] == 200
    assert (await ask_tagged(k, "proj-a"))[0] == 200
    assert limits.memory.store.spend[(spend.tag_counter("proj-a"), "total")] == 30_000
    status, body = await ask_tagged(k, "proj-a")
    assert status == 429
    assert body["error"]["type"] == "rate_limit_error"
    assert body["error"]["code"] == "budget_exceeded"
    assert "tag proj-a's budget" in body["error"]["message"]
    assert recorded[-1].status == 429 and recorded[-1].tags == ("proj-a",)
    # control: the same key, another tag with its own budget, and no tag at all
    assert (await ask_tagged(k, "proj-b"))[0] == 200
    assert (await ask_tagged(k, "untracked"))[0] == 200
    status, body = await ask_tagged(k, "proj-a", dialect="anthropic")
    assert status == 429 and body["error"]["type"] == "rate_limit_error"


# --- the snapshot and the spend loaded from the log -------------------------------------------


@pytest.mark.django_db
def test_snapshot_carries_tag_limits_and_enforced_keys() -> None:
    from gateway.access.registry import build_snapshot
    from gateway.models import ApiKey, TagBudget

    TagBudget.objects.create(name="search", budget_usd=Decimal("5"), budget_period="day")
    TagBudget.objects.create(name="chat", rpm_limit=7)
    TagBudget.objects.create(name="nothing")  # no limit: not in the snapshot
    ApiKey.objects.create(
        name="a", prefix="sy-a", key_hash="a" * 64, tags=["search"], enforce_tags=True
    )
    snap = build_snapshot()
    assert set(snap.tag_limits) == {"search", "chat"}
    assert snap.tag_limits["search"].budget_usd == Decimal("5")
    assert snap.tag_limits["search"].budget_period == "day"
    assert snap.tag_limits["chat"].rpm_limit == 7
    entry = snap.keys["a" * 64]
    assert entry.enforce_tags and entry.tags == ("search",)


def _record(request_id: str, tags_: tuple[str, ...], cost: str, key_id: int | None = 7):
    return journal.Record(
        request_id=request_id,
        key_id=key_id,
        key_name="ci",
        dialect="openai",
        endpoint="chat",
        route="plain",
        status=200,
        cost_usd=Decimal(cost),
        tags=tags_,
    )


@pytest.mark.django_db(transaction=True)
async def test_a_tag_spend_is_loaded_from_the_request_log():
    """After a restart, a tag's spend this period is what its requests cost (the master
    key's excepted: never limited, never counted live either)."""
    from asgiref.sync import sync_to_async

    await sync_to_async(journal.write_batch)(
        [
            _record("t1", ("search", "prod"), "0.5"),
            _record("t2", ("search",), "0.25"),
            _record("t3", ("prod",), "1"),
            _record("t4", ("search",), "2", key_id=None),  # the master key
        ]
    )
    month = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    spent = await spend.load_counter_spend(spend.tag_counter("search"), month)
    assert spent == Decimal("0.75")
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await spend.load_counter_spend(spend.tag_counter("search"), later) == 0
    assert await spend.load_counter_spend(spend.tag_counter("prod"), None) == Decimal("1.5")
