"""What routing asks the shared store before an attempt: a prefix another worker holds
warm (kept in this process's table, only for a deployment of the route), a cooldown
another worker started meanwhile (kept in this process's health; taken only when the
request has another deployment), a half-open deployment's probe already in flight
elsewhere. The store is replaced by its answers; the checks are the unit."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import pytest

from gateway.routing import shared_affinity, shared_cooldowns, store_checks
from gateway.routing.health import Health, Policy
from gateway.routing.prefix_affinity import AffinityTable
from tests.gateway.entries import route

NOW = 1000.0
POLICY = Policy(
    base=0.5,
    max_backoff=8,
    retry_after_cap=30,
    total=120,
    cooldown_failures=2,
    cooldown_window=60,
    cooldown=30,
)


@dataclass
class Request:
    policy: Policy = POLICY
    excluded: set[int] = field(default_factory=set)


def clock() -> float:
    return NOW


def answers(monkeypatch, module, name, value):
    asked = []

    async def ask(*args):
        asked.append(args)
        return value

    monkeypatch.setattr(module, name, ask)
    return asked


async def test_a_prefix_held_warm_elsewhere_is_learnt(monkeypatch):
    r = route("chat", "a", "b")
    b = r.deployments[1]
    asked = answers(monkeypatch, shared_affinity, "recall", (b.id, 40.0))
    table = AffinityTable()
    assert await store_checks.recalled(table, r, 77, clock) == b.id
    assert asked == [("chat", 77)]
    assert table.preferred("chat", 77, NOW + 39) == b.id
    assert table.preferred("chat", 77, NOW + 41) is None


@pytest.mark.parametrize("answer", [None, (999_999, 40.0)])
async def test_an_unknown_prefix_or_a_deployment_not_of_the_route_is_not_learnt(
    monkeypatch, answer
):
    r = route("chat", "a", "b")
    answers(monkeypatch, shared_affinity, "recall", answer)
    table = AffinityTable()
    assert await store_checks.recalled(table, r, 77, clock) is None
    assert len(table) == 0


async def test_a_cooldown_started_elsewhere_moves_the_request_on(monkeypatch):
    r = route("chat", "a", "b")
    a, _ = r.deployments
    asked = answers(monkeypatch, shared_cooldowns, "current", (12.0, 2))
    health = Health(clock)
    moved = await store_checks.cooled_meanwhile(health, random.Random(1), r, a, Request())
    assert moved is True and asked == [(a.id, 60)]
    assert health.cool_until[a.id] == NOW + 12


async def test_a_cooling_deployment_is_still_taken_when_the_request_has_no_other(monkeypatch):
    r = route("chat", "a", "b")
    a, b = r.deployments
    answers(monkeypatch, shared_cooldowns, "current", (12.0, 2))
    health = Health(clock)
    request = Request(excluded={b.id})
    assert not await store_checks.cooled_meanwhile(health, random.Random(1), r, a, request)
    assert health.cool_until[a.id] == NOW + 12  # known here all the same


@pytest.mark.parametrize(("answer", "kept"), [(None, False), ((None, 1), False), ((0.0, 3), True)])
async def test_no_cooldown_or_a_half_open_one_does_not_move_the_request(monkeypatch, answer, kept):
    r = route("chat", "a", "b")
    a = r.deployments[0]
    answers(monkeypatch, shared_cooldowns, "current", answer)
    health = Health(clock)
    assert not await store_checks.cooled_meanwhile(health, random.Random(1), r, a, Request())
    assert (a.id in health.cool_until) is kept


async def test_a_probe_the_store_grants_is_made_here(monkeypatch):
    r = route("chat", "a", "b")
    a = r.deployments[0]
    asked = answers(monkeypatch, shared_cooldowns, "claim_probe", None)
    health = Health(clock)
    health.probing.add(a.id)
    assert (
        await store_checks.claim_shared_probe(health, random.Random(1), r, a, Request()) == "probe"
    )
    assert asked == [(a.id, 30)] and a.id in health.probing


async def test_a_probe_in_flight_elsewhere_cools_the_deployment_here(monkeypatch):
    r = route("chat", "a", "b")
    a, b = r.deployments
    answers(monkeypatch, shared_cooldowns, "claim_probe", 0.0)
    health = Health(clock)
    health.probing.add(a.id)
    rng = random.Random(1)
    assert await store_checks.claim_shared_probe(health, rng, r, a, Request()) == "skip"
    assert a.id not in health.probing and health.cool_until[a.id] == NOW + 0.05
    alone = Request(excluded={b.id})
    assert await store_checks.claim_shared_probe(health, rng, r, a, alone) == "plain"
