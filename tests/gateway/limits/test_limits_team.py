"""Team limits: a key's requests and spend count against its team's rpm/tpm and budget
too, in the same store as the key's own (this process, the counter service, Redis), in
one round trip; keys without a team take exactly the path they took before."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from gateway.access import registry
from gateway.base.counters import SOCKET_ENV
from gateway.base.entries import TeamEntry
from gateway.base.errors import PermissionDenied, RateLimited
from gateway.limits import limits, spend, subjects
from gateway.limits.limits_book import CounterStore
from tests.gateway.entries import snapshot
from tests.gateway.limits.test_budget_holds import ask
from tests.gateway.limits.test_limits import START, key

_team_ids = iter(range(500, 10_000))


def team(**limits_) -> TeamEntry:
    fields = dict(
        id=next(_team_ids),
        name="research",
        rpm_limit=None,
        tpm_limit=None,
        budget_usd=None,
        budget_period="total",
    )
    fields.update(limits_)
    return TeamEntry(**fields)


async def spend_across_two_keys(t: TeamEntry) -> None:
    """Two keys of a $1.00 team spend $0.60 each: the third request is refused, naming
    the team, though neither key has a budget of its own."""
    a, b = key(team=t), key(team=t)
    first = await limits.admit(a, "echo", 10)
    await first.settle(10, Decimal("0.60"))
    second = await limits.admit(b, "echo", 10)
    await second.settle(10, Decimal("0.60"))
    for k in (a, b):
        with pytest.raises(RateLimited) as raised:
            await limits.admit(k, "echo", 10)
        assert raised.value.code == "budget_exceeded"
        assert "team research's budget" in raised.value.message
    # A key of another team is not affected.
    await limits.admit(key(team=team(budget_usd=Decimal("1"))), "echo", 10)


async def rpm_across_two_keys(t: TeamEntry) -> None:
    a, b = key(team=t, rpm_limit=100), key(team=t)
    await limits.admit(a, "echo", 1)
    await limits.admit(b, "echo", 1)
    await limits.admit(a, "echo", 1)
    with pytest.raises(RateLimited) as raised:
        await limits.admit(b, "echo", 1)
    assert raised.value.code == "rate_limit_exceeded"
    assert "team research's limit of 3 requests" in raised.value.message
    assert 0 < raised.value.retry_after <= 60


async def test_team_budget_counts_the_spend_of_every_key(clock, no_spend_yet):
    await spend_across_two_keys(team(budget_usd=Decimal("1.00")))


async def test_team_rpm_counts_the_requests_of_every_key(clock, no_spend_yet):
    await rpm_across_two_keys(team(rpm_limit=3))


async def test_a_refusal_by_the_team_reserves_nothing_for_the_key(clock, no_spend_yet):
    """Checked together, reserved together: a request the team refuses does not use up
    the key's own allowance."""
    t = team(rpm_limit=1)
    k = key(team=t, rpm_limit=2)
    await limits.admit(k, "echo", 1)
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)  # the team's 1 rpm
    store = limits.memory.store
    assert store.windows[k.id].requests == 1  # only the admitted request counted
    assert store.windows[-t.id].requests == 1


async def test_team_tpm_is_corrected_at_settle(clock, no_spend_yet):
    t = team(tpm_limit=1000)
    first = await limits.admit(key(team=t), "echo", 800)
    with pytest.raises(RateLimited):
        await limits.admit(key(team=t), "echo", 300)
    await first.settle(100, Decimal("0"))
    await limits.admit(key(team=t), "echo", 300)


async def test_the_key_own_limit_still_applies_inside_a_team(clock, no_spend_yet):
    k = key(team=team(rpm_limit=100), rpm_limit=1)
    await limits.admit(k, "echo", 1)
    with pytest.raises(RateLimited) as raised:
        await limits.admit(k, "echo", 1)
    assert "this API key's limit" in raised.value.message


async def test_team_budget_holds_requests_in_flight(clock, no_spend_yet):
    """Concurrent requests of two keys hold the team's budget like a key's."""
    t = team(budget_usd=Decimal("1.00"))
    await limits.admit(key(team=t), "echo", 1, hold_usd=Decimal("0.70"))
    with pytest.raises(RateLimited) as raised:
        await limits.admit(key(team=t), "echo", 1, hold_usd=Decimal("0.70"))
    assert "held" in raised.value.message


async def test_route_limited_to_other_teams_is_403(clock):
    t = team()
    with pytest.raises(PermissionDenied):
        await limits.admit(key(team=t), "echo", 1, route_teams=frozenset({t.id + 1}))
    with pytest.raises(PermissionDenied):
        await limits.admit(key(), "echo", 1, route_teams=frozenset({t.id}))
    await limits.admit(key(team=t), "echo", 1, route_teams=frozenset({t.id}))


async def test_a_keys_route_decisions_are_kept_per_route_and_teams(clock, monkeypatch):
    """``route.call`` is asked once per key entry, route and route's teams (the rule
    reads nothing else): each later request gets the same answer, allowed or refused,
    another route or other teams their own, and another entry of the key its own."""
    asked: list[tuple[str, frozenset[int] | None]] = []
    decide = limits.decide

    def counting(actor, action, resource):  # type: ignore[no-untyped-def]
        asked.append((resource.name, resource.teams))
        return decide(actor, action, resource)

    monkeypatch.setattr(limits, "decide", counting)
    t = team()
    k = key(team=t, routes=frozenset({"echo", "other"}))
    theirs, others = frozenset({t.id}), frozenset({t.id + 1})
    for _ in range(3):
        await limits.admit(k, "echo", 1, route_teams=theirs)
        await limits.admit(k, "other", 1)
        with pytest.raises(PermissionDenied, match="limited to other teams"):
            await limits.admit(k, "echo", 1, route_teams=others)
        with pytest.raises(PermissionDenied, match="may not use model 'closed'"):
            await limits.admit(k, "closed", 1)
    assert asked == [("echo", theirs), ("other", None), ("echo", others), ("closed", None)]
    narrowed = dataclasses.replace(k, routes=frozenset({"other"}))  # a registry change
    with pytest.raises(PermissionDenied, match="may not use model 'echo'"):
        await limits.admit(narrowed, "echo", 1, route_teams=theirs)
    assert asked[4:] == [("echo", theirs)]
    monkeypatch.setattr(limits, "CALLS_KEPT", 4)
    with pytest.raises(PermissionDenied):
        await limits.admit(k, "third", 1)  # a fifth decision: the four kept are forgotten
    await limits.admit(k, "echo", 1, route_teams=theirs)
    assert asked[5:] == [("third", None), ("echo", theirs)]


async def test_a_team_without_limits_changes_nothing(clock):
    """A key in a team with no limits takes the key-only path: no counters at all for a
    key without limits either."""
    k = key(team=team())
    reservation = await limits.admit(k, "echo", 1)
    assert reservation.backend is None


async def test_a_registry_change_is_admitted_under_the_new_entrys_limits(clock, no_spend_yet):
    """What admission works out once per key entry (``subjects.plan_of``) is the entry's
    own: the snapshot a registry change builds has new entries, admitted under their
    limits (a team limited, no longer limited, limited again), never a plan kept for
    an older entry of the same key."""
    before = key(team=team(rpm_limit=1))
    await limits.admit(before, "echo", 1)
    with pytest.raises(RateLimited, match="team research's limit of 1 requests"):
        await limits.admit(before, "echo", 1)
    loosened = dataclasses.replace(before, team=team())  # its team's limits removed
    for _ in range(3):
        assert (await limits.admit(loosened, "echo", 1)).backend is None
    tightened = dataclasses.replace(before, team=team(rpm_limit=2))
    await limits.admit(tightened, "echo", 1)
    await limits.admit(tightened, "echo", 1)
    with pytest.raises(RateLimited, match="limit of 2 requests"):
        await limits.admit(tightened, "echo", 1)
    with pytest.raises(RateLimited, match="limit of 1 requests"):
        await limits.admit(before, "echo", 1)  # the older entry, still its own


def test_a_registry_change_forgets_the_kept_plans(snapshot_reset) -> None:
    """The plans and end users' entries kept for the old snapshot's entries go when a
    new one is installed."""
    subjects.plan_of(key(team=team(rpm_limit=1)))
    subjects.end_user_entry(key(max_budget_per_user=Decimal(1)), "bob")
    assert subjects._plans and subjects._end_users
    registry.install(snapshot())
    assert not subjects._plans and not subjects._end_users


# --- the counter service (workers of one server) ------------------------------------------


async def test_shared_service_team_budget_and_rpm(clock, service, monkeypatch, no_spend_yet):
    monkeypatch.setenv(SOCKET_ENV, service.path)
    await spend_across_two_keys(team(budget_usd=Decimal("1.00")))
    await rpm_across_two_keys(team(rpm_limit=3))


async def test_one_round_trip_for_a_key_and_its_team(clock, service, monkeypatch, no_spend_yet):
    """Team limits add no round trip: one ``lease`` for key and team together, and the
    settle's token correction reported with the leases' next report, not on its own."""
    monkeypatch.setenv(SOCKET_ENV, service.path)
    seen: list[str] = []
    answer = service.store.answer
    monkeypatch.setattr(
        service.store, "answer", lambda request: seen.append(request[0]) or answer(request)
    )
    reservation = await limits.admit(key(rpm_limit=10, team=team(tpm_limit=1000)), "echo", 100)
    assert seen == ["lease"]
    seen.clear()
    await reservation.settle(40, Decimal("0"))
    assert seen == []
    await limits.admit(key(rpm_limit=10), "echo", 100)
    assert seen == ["lease"]


async def test_a_team_budget_settles_on_an_older_service_one_subject_at_a_time(
    clock, service, monkeypatch, no_spend_yet
):
    """A rolling reload's new worker beside a supervisor that predates "settle_all": the
    service refuses the operation, and the worker settles each subject as it used to,
    spending the team's budget all the same."""
    monkeypatch.setenv(SOCKET_ENV, service.path)
    seen: list[str] = []
    answer = service.store.answer

    def older(request: list) -> list:
        seen.append(request[0])
        if request[0] == "settle_all":
            raise ValueError("unknown operation 'settle_all'")
        return answer(request)

    monkeypatch.setattr(service.store, "answer", older)
    t = team(budget_usd=Decimal("1.00"))
    first = await limits.admit(key(team=t), "echo", 10)
    await first.settle(10, Decimal("0.60"))
    # the team's spend loaded first; only the team's counters have anything to settle
    assert seen == ["admit_all", "admit_all", "settle_all", "settle"]
    seen.clear()
    second = await limits.admit(key(team=t), "echo", 10)
    await second.settle(10, Decimal("0.60"))
    assert seen == ["admit_all", "settle"]  # refused once, remembered
    with pytest.raises(RateLimited, match="research"):
        await limits.admit(key(team=t), "echo", 10)


def test_settle_all_settles_every_subject_or_none():
    """A spend to add that is not loaded names its subject and changes nothing; with
    its ``initial``, every subject is settled in the one step."""
    store = CounterStore()
    admitted = store.admit_all(
        10, START, 500, 30.0, [[7, 10, 100, 10_000, "total", 0], [-3, 0, 0, 10_000, "total", 0]]
    )
    assert admitted[0] == "ok"
    (second, hold), (_, team_hold) = admitted[1]
    store.spend.pop((-3, "total"))  # the team's spend is unknown here (a restart)
    rows = [
        [7, second, -4, "total", 200, None, "total", hold],
        [-3, None, -4, "total", 200, None, "total", team_hold],
    ]
    assert store.settle_all(rows) == ["load", 1]
    assert store.spend[(7, "total")] == 0 and store.holds.held(7, "total", START) == 500
    rows[1][5] = 1000
    assert store.settle_all(rows) == ["ok"]
    assert store.spend == {(7, "total"): 200, (-3, "total"): 1200}
    assert store.holds.held(7, "total", START) == 0 == store.holds.held(-3, "total", START)
    assert store.windows[7].tokens == 6


# --- Redis ------------------------------------------------------------------------------------


@pytest.mark.services
async def test_redis_team_budget_and_rpm(redis_limits, monkeypatch, no_spend_yet):
    monkeypatch.setattr(spend, "now", lambda: START)
    await spend_across_two_keys(team(budget_usd=Decimal("1.00")))
    await rpm_across_two_keys(team(rpm_limit=3))
    t = team(rpm_limit=1)
    k = key(team=t, rpm_limit=5)
    await limits.admit(k, "echo", 1)
    with pytest.raises(RateLimited):
        await limits.admit(k, "echo", 1)
    # The refused request reserved nothing of the key's own window.
    counts = await redis_limits.hgetall(f"{subjects.REDIS_PREFIX}:{k.id}:requests")
    assert sum(int(v) for v in counts.values()) == 1
    assert await redis_limits.exists(f"{subjects.REDIS_PREFIX}:team:{t.id}:requests")


@pytest.mark.services
async def test_redis_one_script_call_per_admission(redis_limits, monkeypatch, no_spend_yet):
    backend = limits._backend()
    backend.client()
    calls: list[int] = []
    script = backend._admit_all

    async def counted(**kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return await script(**kwargs)

    monkeypatch.setattr(backend, "_admit_all", counted)
    await limits.admit(key(team=team(rpm_limit=5), rpm_limit=5), "echo", 1)
    assert calls == [1]


# --- the registry snapshot carries the team (no database on the request path) -------------


@pytest.mark.django_db
def test_snapshot_carries_team_limits_and_route_teams() -> None:
    from gateway.access.registry import build_snapshot
    from gateway.models import ApiKey, Route, Team

    research = Team.objects.create(name="research", rpm_limit=7, budget_usd=Decimal("5"))
    keyed = ApiKey.objects.create(name="a", prefix="sy-a", key_hash="a" * 64, team=research)
    ApiKey.objects.create(name="old", prefix="sy-o", key_hash="o" * 64)
    Route.objects.create(name="open")
    Route.objects.create(name="private").teams.set([research])
    snap = build_snapshot()
    entry = snap.keys[keyed.key_hash]
    assert entry.team is not None and entry.team.rpm_limit == 7 and entry.team.limited
    assert entry.team.budget_usd == Decimal("5") and entry.user_id is None
    assert snap.keys["o" * 64].team is None
    assert snap.routes["private"].teams == frozenset({research.pk})
    assert snap.routes["open"].teams is None


# --- through service.handle: the team's spend and limits on the real request path -------------


async def test_requests_of_two_keys_spend_the_team_budget_through_the_service(
    gateway,
    no_spend_yet,
):
    state, recorded = gateway
    # each request holds its worst case (prompt + 50 tokens at $10/M, about $0.0006)
    # and costs $0.00015
    t = team(budget_usd=Decimal("0.0008"), budget_period="total")
    a, b = key(team=t), key(team=t)
    state["key"] = a
    assert await ask(a) == 200  # costs $0.00015, counted for the team
    assert limits.memory.store.spend[(-t.id, "total")] == 15_000
    state["key"] = b
    assert await ask(b) == 200  # $0.00015 spent + its hold fit the team's $0.0008
    assert limits.memory.store.spend[(-t.id, "total")] == 30_000
    state["key"] = a
    # refused: $0.0005 is left of the team's budget, less than the request may cost
    # (budgets are exact: no request overruns one, #37), though neither key has a budget
    assert await ask(a) == 429
    assert recorded[-1].status == 429 and "left" in recorded[-1].error_message
