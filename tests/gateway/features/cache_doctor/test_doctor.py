"""The doctor's figures from journal turns (``gateway.features.cache_doctor.doctor``):
hit rate, writes that cost more than their reads, warm misses and their dollars, the
cause of each, the lifetime the reuse argues for, and the prefix change named."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from gateway.features.cache_doctor import doctor
from gateway.features.cache_doctor.doctor import Pricing, Turn

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
CLAUDE = Pricing(Decimal(3), Decimal("0.3"), Decimal("3.75"), 300.0, needs_breakpoints=True)


def turn(n: int, seconds: float, *, read: int = 0, write: int = 0, fresh: int = 2000,
         deployment: int = 1, session: str | None = "s1", route: str = "claude",
         breakpoints: str = "auto: system") -> Turn:  # fmt: skip
    return Turn(
        n, f"req-{n}", T0 + timedelta(seconds=seconds), route, 7, "agent-key", session,
        deployment, fresh, read, write, breakpoints,
    )  # fmt: skip


def test_a_warm_session_that_reads_its_cache_saves_and_loses_nothing() -> None:
    turns = [
        turn(1, 0, write=10_000),
        turn(2, 60, read=10_000, write=500),
        turn(3, 120, read=10_500),
    ]
    report = doctor.analyse(turns, {1: CLAUDE})
    (route,) = report.routes
    assert route.requests == 3 and route.warm_reuses == 2 and route.misses == 0
    assert route.read_tokens == 20_500 and route.lost_usd == 0
    # reads at 2.7 $/M saved, writes at 0.75 $/M above the input price
    assert route.saved_usd == Decimal(20_500) * Decimal("2.7") / 1_000_000
    assert route.write_premium_usd == Decimal(10_500) * Decimal("0.75") / 1_000_000
    assert not route.write_without_read and route.ttl == "5m" and route.findings() == []


def test_writes_never_read_back_are_found_and_priced() -> None:
    """The public report's shape: writes every turn, reads never (a prefix that changes
    every turn): caching made the route dearer, and every warm turn is a miss."""
    turns = [turn(n, 30 * n, write=12_000) for n in range(1, 6)]
    report = doctor.analyse(turns, {1: CLAUDE})
    (route,) = report.routes
    assert route.write_without_read and route.net_usd < 0
    assert route.misses == 4 and len(report.misses) == 4
    # each miss lost the shared prompt (14,000 tokens) at the input less the read price
    assert route.lost_usd == 4 * Decimal(14_000) * Decimal("2.7") / 1_000_000
    problems = [problem for problem, _ in route.findings()]
    assert problems[0].startswith("writes without reads")


def test_a_miss_is_explained_by_another_deployment_or_a_missing_breakpoint() -> None:
    turns = [
        turn(1, 0, write=10_000, session="a"), turn(2, 60, deployment=2, session="a"),
        turn(3, 0, session="b", breakpoints=""), turn(4, 60, session="b", breakpoints=""),
    ]  # fmt: skip
    report = doctor.analyse(turns, {1: CLAUDE, 2: CLAUDE})
    doctor.explain(report, {})
    causes = {m.turn.request_id: m.cause for m in report.misses}
    assert causes == {"req-2": "another deployment", "req-4": "no breakpoint"}
    (route,) = report.routes
    assert dict(route.causes) == {"another deployment": 1, "no breakpoint": 1}
    fixes = " ".join(fix for _, fix in route.findings())
    assert "REDIS_URL" in fixes and "automatic cache breakpoints on" in fixes


def test_short_prompts_and_cold_gaps_are_no_misses() -> None:
    turns = [
        turn(1, 0, fresh=500), turn(2, 30, fresh=600),  # too short for any upstream to cache
        turn(3, 0, session="late"), turn(4, 7200, session="late"),  # two hours apart
    ]  # fmt: skip
    report = doctor.analyse(turns, {1: CLAUDE})
    assert report.misses == [] and report.routes[0].warm_reuses == 0


def test_reuse_after_five_minutes_argues_for_a_one_hour_ttl_when_it_pays() -> None:
    """Turns 20 minutes apart, each writing its 50k-token prompt again: a 1-hour cache
    would have read three of the four writes (3.45 $/M saved each) and made the first
    dearer (0.75 × 3 $/M): 1h. A warm session with one late turn of a short prompt
    does not pay for making every write dearer: 5m."""
    late = [turn(n, 1200 * n, write=50_000, fresh=100) for n in range(4)]
    group = doctor.analyse(late, {1: CLAUDE}).routes[0]
    assert group.late_reuses == 3 and group.ttl == "1h"
    assert any("1-hour" in problem for problem, _ in group.findings())
    warm = [turn(0, 0, write=12_000, fresh=10)]
    warm += [turn(n, 60 * n, read=12_000, write=100, fresh=10) for n in range(1, 10)]
    warm.append(turn(10, 2000, fresh=2000))
    assert doctor.analyse(warm, {1: CLAUDE}).routes[0].ttl == "5m"


def test_groups_by_route_key_and_session() -> None:
    turns = [
        turn(1, 0, session="a"),
        turn(2, 10, session="b", route="gpt"),
        turn(3, 20, session=None),
    ]
    report = doctor.analyse(turns, {})
    assert sorted(g.name for g in report.routes) == ["claude", "gpt"]
    assert [g.name for g in report.keys] == ["agent-key"] and report.keys[0].requests == 3
    assert sorted(g.name for g in report.sessions) == ["a", "b"]


SYSTEM = "You are Claude Code. " * 100


def anthropic_body(stamp: str, messages: int, tools: list[str] | None = None) -> dict:
    return {
        "model": "claude",
        "tools": [{"name": n, "input_schema": {"type": "object"}} for n in tools or ["read", "edit"]],
        "system": [{"type": "text", "text": f"x-anthropic-billing-header: cc_version=2.1; cch={stamp};"},
                   {"type": "text", "text": SYSTEM}],
        "messages": [{"role": "user", "content": f"turn {i}"} for i in range(messages)],
    }  # fmt: skip


def test_the_prefix_change_is_named_with_the_text_that_changed() -> None:
    change = doctor.first_change(anthropic_body("a1b2c", 3), anthropic_body("f9e8d", 5))
    assert change is not None and change.startswith("system changes between turns")
    assert "[a1b2c→f9e8d]" in change
    reordered = doctor.first_change(
        anthropic_body("same", 1, ["read", "edit"]), anthropic_body("same", 2, ["edit", "read"])
    )
    assert reordered == "the tool list is reordered between turns"
    added = doctor.first_change(
        anthropic_body("same", 1, ["read"]), anthropic_body("same", 2, ["read", "grep"])
    )
    assert added == "the tool list changes between turns (added grep)"
    # a conversation that only grew is no change; one rewritten in the middle is
    assert doctor.first_change(anthropic_body("same", 3), anthropic_body("same", 6)) is None
    edited = anthropic_body("same", 6)
    edited["messages"][1]["content"] = "turn one, summarised"
    assert doctor.first_change(anthropic_body("same", 3), edited) == (
        'messages[1] changes between turns: {"content": "turn [1→one, summarised]", "role": "user"}'
    )


def test_the_last_message_losing_its_cache_mark_is_no_change() -> None:
    before = anthropic_body("same", 2)
    before["messages"][-1] = {"role": "user", "content": [
        {"type": "text", "text": "turn 1", "cache_control": {"type": "ephemeral"}}]}  # fmt: skip
    after = anthropic_body("same", 4)
    after["messages"][1] = {"role": "user", "content": [{"type": "text", "text": "turn 1"}]}
    assert doctor.first_change(before, after) is None


def test_explained_misses_name_their_volatile_prefix_on_each_group() -> None:
    turns = [turn(1, 0, write=10_000), turn(2, 60, write=10_000)]
    report = doctor.analyse(turns, {1: CLAUDE})
    doctor.explain(report, {1: anthropic_body("aaaa", 2), 2: anthropic_body("bbbb", 4)})
    (miss,) = report.misses
    assert miss.cause == "volatile prefix" and "[aaaa→bbbb]" in miss.detail
    for group in (*report.routes, *report.keys, *report.sessions):
        assert group.volatile == [miss.detail] and group.causes == {"volatile prefix": 1}
        assert any(p.startswith("volatile prefix: system changes") for p, _ in group.findings())
