"""Whose limits a request counts against (``gateway.limits.subjects``): the entries an end
user, an agent run and an A2A session count under, the subjects of a key (its own, its
limited team's and owner's, its tags'), and the counters' answers read into a
reservation or a refusal that names whose limit it is, with when to retry."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from gateway.base.entries import AgentRun, KeyEntry, TagEntry, TeamEntry, UserEntry
from gateway.base.errors import RateLimited
from gateway.limits import subjects
from gateway.limits.subjects import Admission, Subject

UNITS = 100_000_000  # per USD
AT = datetime(2026, 3, 1, tzinfo=UTC).timestamp()
END = datetime(2026, 3, 1, 1, tzinfo=UTC)  # an hour after AT

TEAM = TeamEntry(4, "research", None, 100, None, "month")
LOOSE_TEAM = TeamEntry(5, "loose", None, None, None, "month")
OWNER = UserEntry(9, "ada", 10, None, None, "month")


def key(**fields) -> KeyEntry:  # type: ignore[no-untyped-def]
    base = dict(
        id=3, name="k", prefix="sy-k", routes=frozenset({"chat"}), rpm_limit=5, tpm_limit=50,
        budget_usd=Decimal("2"), budget_period="month", expires_at=None, revoked=False,
    )  # fmt: skip
    return KeyEntry(**{**base, **fields})


def test_an_end_user_counts_only_their_budget_on_the_key() -> None:
    entry = subjects.end_user_entry(key(max_budget_per_user=Decimal("0.5"), team=TEAM), "bob")
    assert str(entry.id).startswith("3:user:") and len(str(entry.id)) == len("3:user:") + 24
    assert entry.id == subjects.end_user_entry(key(), "bob").id  # stable per end user
    assert (entry.budget_usd, entry.rpm_limit, entry.routes, entry.team) == (
        Decimal("0.5"),
        None,
        None,
        None,
    )
    assert (entry.end_user, entry.parent_id) == ("bob", 3)
    assert subjects.whose(entry) == "this end user's budget on this API key"


def test_an_agent_run_and_its_session_count_the_agents_budgets_in_total() -> None:
    run = AgentRun(
        "req-1", "helper", context="ctx-9", budget_usd=Decimal(1), session_budget_usd=Decimal(3)
    )
    carried = key(run=run, team=TEAM, owner=OWNER)
    per_run = subjects.run_entry(carried)
    assert (per_run.id, per_run.budget_usd, per_run.budget_period) == (
        "3:run:req-1",
        Decimal(1),
        "total",
    )
    assert per_run.team is None and per_run.owner is None and per_run.parent_id == 3
    assert subjects.whose(per_run) == "agent helper's budget per run"
    session = subjects.session_entry(carried)
    assert (session.id, session.budget_usd, session.session) == (
        "3:session:ctx-9",
        Decimal(3),
        "ctx-9",
    )
    assert subjects.whose(session) == "agent helper's budget per session"
    assert subjects.whose(key()) == "this API key's budget"


def test_a_keys_subjects_are_its_own_its_limited_team_and_owner_and_its_tags() -> None:
    tag = TagEntry(1, "ci", None, None, Decimal(1), "day")
    found = subjects.subjects_of(key(team=TEAM, owner=OWNER), (tag,))
    assert [(s.counter, s.who) for s in found] == [
        (3, "this API key's"),
        (-4, "team research's"),
        ("user:9", "user ada's"),
        ("tag:ci", "tag ci's"),
    ]
    assert [s.counter for s in subjects.subjects_of(key(team=LOOSE_TEAM))] == [3]
    assert [s.counter for s in subjects.subjects_of(key(id=None))] == [0]  # the master key
    assert subjects.shares_limits(key(team=TEAM)) and subjects.shares_limits(key(owner=OWNER))
    assert not subjects.shares_limits(key(team=LOOSE_TEAM))


def test_a_keys_plan_is_worked_out_once_per_entry(monkeypatch) -> None:
    """``plan_of``: the same plan for an entry on each request; another entry of the key
    (a registry change makes new ones) its own; entries made for one request (an agent
    run's) not kept; and no more than ``PLANS_KEPT`` kept."""
    monkeypatch.setattr(subjects, "_plans", {})
    monkeypatch.setattr(subjects, "_made_for_one", [None])
    k = key(team=TEAM, owner=OWNER)
    plan = subjects.plan_of(k)
    assert subjects.plan_of(k) is plan
    assert plan.subjects == tuple(subjects.subjects_of(k)) and plan.joint and plan.budgeted
    changed = key(team=LOOSE_TEAM, budget_usd=None)
    other = subjects.plan_of(changed)
    assert [s.counter for s in other.subjects] == [3]
    assert not other.joint and not other.budgeted
    assert subjects.plan_of(k) is plan  # each entry its own
    carried = key(run=AgentRun("req-1", "helper", budget_usd=Decimal(1)))
    per_request = subjects.run_entry(carried)
    made = subjects.plan_of(per_request)
    assert made.subjects[0].limits is per_request and id(per_request) not in subjects._plans
    assert subjects.plan_of(per_request) is made  # the admission's store reads it again
    another = subjects.run_entry(carried)
    assert subjects.plan_of(another).subjects[0].limits is another  # the next one's own
    assert subjects.plan_of(per_request) is not made  # the one before is not kept
    monkeypatch.setattr(subjects, "PLANS_KEPT", 2)
    third = key()
    subjects.plan_of(third)  # over the bound: the others forgotten
    assert list(subjects._plans) == [id(third)]
    assert subjects.plan_of(k) is not plan and subjects.plan_of(k) == plan  # worked out again


def test_an_end_users_entry_and_plan_are_made_once_per_key_entry_and_end_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Kept for the key entry (an entry never changes): the same entry and plan on each
    request of that end user; another end user, another entry of the key (a registry
    change makes new ones, with other limits) or a registry change (``forget_plans``)
    makes them anew, under the limits in force; no more than ``END_USERS_KEPT`` kept."""
    monkeypatch.setattr(subjects, "_plans", {})
    monkeypatch.setattr(subjects, "_end_users", {})
    k = key(max_budget_per_user=Decimal("0.5"))
    bob = subjects.end_user_entry(k, "bob")
    plan = subjects.plan_of(bob)
    assert subjects.end_user_entry(k, "bob") is bob and subjects.plan_of(bob) is plan
    assert plan.subjects[0].limits is bob and plan.budgeted
    assert subjects.end_user_entry(k, "eve").end_user == "eve"
    changed = key(max_budget_per_user=Decimal("0.1"))  # the key's entry after a change
    again = subjects.end_user_entry(changed, "bob")
    assert again is not bob and again.budget_usd == Decimal("0.1") and again.id == bob.id
    assert subjects.plan_of(again).subjects[0].limits is again
    subjects.forget_plans()
    assert subjects.end_user_entry(k, "bob") is not bob and not subjects._plans
    monkeypatch.setattr(subjects, "END_USERS_KEPT", 2)
    subjects.end_user_entry(k, "ann")
    subjects.end_user_entry(k, "cy")  # over the bound: the others forgotten
    assert list(subjects._end_users) == [(id(k), "cy")]


def test_a_requests_tags_with_limits() -> None:
    ci = TagEntry(1, "ci", 5, None, None, "day")
    assert subjects.tag_limits({"ci": ci}, ("ci", "other")) == (ci,)
    assert subjects.tag_limits({"ci": ci}, ()) == () and subjects.tag_limits({}, ("ci",)) == ()


def test_a_subjects_budget_units_and_redis_names(monkeypatch) -> None:
    monkeypatch.setattr(subjects, "REDIS_PREFIX", "p")
    assert Subject(3, key(), "").budget_units() == 2 * UNITS
    assert Subject(3, key(budget_usd=None), "").budget_units() == -1
    assert [Subject(c, key(), "").redis_base() for c in (3, -4, "user:9")] == [
        "p:3",
        "p:team:4",
        "p:user:9",
    ]


def refused(call) -> RateLimited:  # type: ignore[no-untyped-def]
    with pytest.raises(RateLimited) as caught:
        call()
    return caught.value


def test_an_ok_answer_is_the_reservation() -> None:
    assert subjects.verdict(key(), ["ok", "17", b"h-1"], "m2026-03", END, AT) == Admission(
        17, "h-1", "m2026-03"
    )
    assert subjects.verdict(key(), ["ok", None], "total", None, AT) == Admission(
        None, None, "total"
    )


def test_a_refusal_names_the_limit_and_when_to_retry() -> None:
    spent = refused(lambda: subjects.verdict(key(), ["budget", 2 * UNITS], "m", END, AT))
    assert str(spent) == "this API key's budget of $2 this month is exhausted ($2.0000 spent)"
    assert (spent.code, spent.retry_after) == ("budget_exceeded", 3600.0)
    total = refused(
        lambda: subjects.verdict(key(budget_period="total"), ["budget", 0], "t", None, AT)
    )
    assert "in total" in str(total) and total.retry_after is None
    held = refused(lambda: subjects.verdict(key(), ["held", UNITS, UNITS // 2], "m", END, AT))
    assert "taken by the requests in flight ($1.0000 spent, $0.5000 held)" in str(held)
    assert held.retry_after == 1.0
    alone = refused(lambda: subjects.verdict(key(), ["held", UNITS // 2, 0], "m", END, AT))
    assert "has $1.5000 left, less than this request may cost" in str(alone)
    assert alone.retry_after == 3600.0
    rpm = refused(lambda: subjects.verdict(key(), ["rpm", "2.4"], "m", END, AT))
    assert str(rpm) == "this API key's limit of 5 requests per minute is reached; retry in 2s"
    assert (rpm.code, rpm.retry_after) == ("rate_limit_exceeded", 2.4)
    tpm = refused(lambda: subjects.verdict(key(), ["tpm", "-1"], "m", END, AT))
    assert "50 tokens per minute" in str(tpm) and "retry in 1s" in str(tpm) and tpm.retry_after == 0
    with pytest.raises(RuntimeError, match="unexpected answer"):
        subjects.verdict(key(), ["what"], "m", END, AT)


def test_a_joint_answer_reserves_per_subject_or_names_the_refusing_one() -> None:
    found = subjects.subjects_of(key(team=TEAM))
    bounds = [("m2026-03", None, END), ("d2026-03-01", None, END)]
    joint = subjects.joint_verdict(found, ["ok", [("5", b"h"), (None, "")]], bounds, AT)
    assert joint.parts == ((5, "h", "m2026-03"), (None, None, None))
    assert joint.subjects == tuple(found)
    team = refused(lambda: subjects.joint_verdict(found, ["tpm", 1, "3"], bounds, AT))
    assert str(team).startswith("team research's limit of 100 tokens per minute")
    key_rpm = refused(lambda: subjects.joint_verdict(found, ["rpm", 0, "3"], bounds, AT))
    assert str(key_rpm).startswith("this API key's limit of 5 requests per minute")
    budget = refused(lambda: subjects.joint_verdict(found, ["budget", 0, UNITS], bounds, AT))
    assert str(budget) == "this API key's budget of $2 this month is exhausted ($1.0000 spent)"
    assert budget.retry_after == 3600.0
    held = refused(lambda: subjects.joint_verdict(found, ["held", 0, UNITS, UNITS], bounds, AT))
    assert "in flight" in str(held)
    with pytest.raises(RuntimeError):
        subjects.joint_verdict(found, ["nope", 0], bounds, AT)
