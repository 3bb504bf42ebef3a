"""An agent's budget per A2A session (issue #63): every run of a key in one context,
and every call those runs make down a chain, count against it together, held and
settled like every budget (``limits.admit``: ``subjects.session_entry``); its spend is
restored from the key's rows of that session after a restart, in memory or in Redis."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async

from gateway.base.entries import AgentRun, KeyEntry
from gateway.base.errors import RateLimited
from gateway.limits import limits, subjects
from tests.gateway.limits.test_limits import key

SESSION = "ctx-1"


def in_run(k: KeyEntry, run: str, context: str = SESSION, **budgets: Decimal) -> KeyEntry:
    """``k`` as an agent's token acting in run ``run`` of session ``context``."""
    agent_run = AgentRun(
        id=run,
        agent="helper",
        context=context,
        budget_usd=budgets.get("run", Decimal("1.00")),
        session_budget_usd=budgets.get("session", Decimal("0.50")),
    )
    return dataclasses.replace(k, run=agent_run)


def log_cost(key_id: int, cost: str, session: str) -> None:
    from gateway.models import RequestLog

    RequestLog.objects.create(
        request_id=uuid.uuid4().hex,
        key_id=key_id,
        dialect="openai",
        endpoint="chat",
        status=200,
        cost_usd=Decimal(cost),
        session=session,
        agent_run="a2a_earlier",
        created_at=datetime.now(UTC),
    )


@pytest.mark.django_db(transaction=True)
async def test_the_runs_of_one_session_share_its_budget(clock):
    k = key()
    for run in ("a2a_one", "a2a_two"):  # each run well within its own budget per run
        reservation = await limits.admit(in_run(k, run), "a2a:helper", 0)
        await reservation.settle(0, Decimal("0.30"))
    with pytest.raises(RateLimited) as raised:
        await limits.admit(in_run(k, "a2a_three"), "a2a:helper", 0)
    assert raised.value.code == "budget_exceeded"
    assert "agent helper's budget per session of $0.50" in raised.value.message
    # another session of the key, and the same context of another key, are apart
    await limits.admit(in_run(k, "a2a_four", context="ctx-2"), "a2a:helper", 0)
    await limits.admit(in_run(key(), "a2a_five"), "a2a:helper", 0)


@pytest.mark.django_db(transaction=True)
async def test_a_hold_counts_against_the_session_until_it_settles(clock):
    k = key()
    held = await limits.admit(in_run(k, "a2a_one"), "a2a:helper", 0, hold_usd=Decimal("0.40"))
    with pytest.raises(RateLimited):  # 0.40 held + 0.40 asked > 0.50
        await limits.admit(in_run(k, "a2a_two"), "a2a:helper", 0, hold_usd=Decimal("0.40"))
    await held.settle(0, Decimal("0.05"))
    await limits.admit(in_run(k, "a2a_two"), "a2a:helper", 0, hold_usd=Decimal("0.40"))


@pytest.mark.django_db(transaction=True)
async def test_no_context_or_no_session_budget_counts_no_session(clock):
    k = key()
    for run in ("a2a_one", "a2a_two"):
        free = in_run(k, run, context="")
        reservation = await limits.admit(free, "a2a:helper", 0)
        assert reservation.session is None and reservation.run is not None
        await reservation.settle(0, Decimal("0.40"))
    unbounded = in_run(k, "a2a_three")
    unbounded = dataclasses.replace(
        unbounded, run=dataclasses.replace(unbounded.run, session_budget_usd=None)
    )
    assert (await limits.admit(unbounded, "a2a:helper", 0)).session is None


@pytest.mark.django_db(transaction=True)
async def test_the_session_spend_is_restored_from_the_keys_rows_of_it(clock):
    k = key()
    await sync_to_async(log_cost)(k.id, "0.45", SESSION)
    await sync_to_async(log_cost)(k.id, "9.00", "another-session")  # not this session
    await sync_to_async(log_cost)(k.id + 1, "9.00", SESSION)  # another key's
    await limits.admit(in_run(k, "a2a_one"), "a2a:helper", 0, hold_usd=Decimal("0.05"))
    with pytest.raises(RateLimited):
        await limits.admit(in_run(k, "a2a_two"), "a2a:helper", 0, hold_usd=Decimal("0.05"))


def test_the_session_entry_counts_in_total_under_its_own_id() -> None:
    k = in_run(key(budget_usd=Decimal("20"), rpm_limit=3), "a2a_one")
    entry = subjects.session_entry(k)
    assert entry.id == f"{k.id}:session:{SESSION}" and entry.parent_id == k.id
    assert entry.budget_usd == Decimal("0.50") and entry.budget_period == "total"
    assert entry.rpm_limit is None and entry.session == SESSION
    assert subjects.whose(entry) == "agent helper's budget per session"
    assert subjects.whose(subjects.run_entry(k)) == "agent helper's budget per run"


@pytest.mark.services
@pytest.mark.django_db(transaction=True)
async def test_redis_holds_one_session_budget_across_processes(redis_limits):
    k = key()
    reservation = await limits.admit(in_run(k, "a2a_one"), "a2a:helper", 0)
    await reservation.settle(0, Decimal("0.50"))
    limits.reset()  # another process: no local state, the same Redis
    with pytest.raises(RateLimited) as raised:
        await limits.admit(in_run(k, "a2a_two"), "a2a:helper", 0)
    assert "per session" in raised.value.message
