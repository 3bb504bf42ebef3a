"""Hourly usage rollups: what the journal's batch writer adds, that rebuild_rollups
reproduces it, retention, histogram percentiles, and that the dashboard's day and week
views read from rollups match the same numbers computed from raw rows."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from django.db.models import Count, Q, Sum
from hypothesis import given
from hypothesis import strategies as st

from console import stats
from gateway import journal
from gateway.journal import Record
from gateway.models import ApiKey, RequestLog, Route, UsageRollup
from gateway.telemetry import rollups

# half past the previous hour: a fixed point in the past, within any retention
NOW = datetime.now(UTC).replace(minute=30, second=0, microsecond=0) - timedelta(hours=1)


@pytest.fixture(autouse=True)
def fresh_summaries():
    stats._summaries.clear()
    yield
    stats._summaries.clear()


def records(count: int, seed: int = 7, hours: int = 30) -> list[Record]:
    """Varied traffic over the ``hours`` before NOW: three routes (one deleted), two
    keys (one deleted) and the master key, both dialects, errors, streams."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        status = rng.choice([200] * 8 + [429, 502])
        key = rng.choice([(1, "alpha"), (2, "gone"), (None, "")])
        out.append(
            Record(
                request_id=f"r{i}",
                created_at=(NOW - timedelta(seconds=rng.uniform(0, hours * 3600))).timestamp(),
                key_id=key[0],
                key_name=key[1],
                dialect=rng.choice(["openai", "anthropic"]),
                endpoint="chat",
                route=rng.choice(["fast", "slow", "retired"]),
                status=status,
                latency_ms=rng.lognormvariate(6, 1),
                ttft_ms=rng.uniform(5, 900) if status == 200 and i % 3 else None,
                input_tokens=rng.randint(0, 900),
                output_tokens=rng.randint(0, 300),
                cache_read_tokens=rng.randint(0, 50),
                cost_usd=Decimal(rng.randint(0, 10_000)) / Decimal("1e7"),
            )
        )
    return out


def write(recs: list[Record], batch: int = 37) -> None:
    for start in range(0, len(recs), batch):
        journal.write_batch(recs[start : start + batch])


def snapshot() -> list[tuple]:
    """Every rollup row's values (float sums rounded: their order of addition differs)."""
    fields = [f.name for f in UsageRollup._meta.fields if f.name != "id"]
    return sorted(
        tuple(round(v, 6) if isinstance(v, float) else v for v in row)
        for row in UsageRollup.objects.values_list(*fields)
    )


def exact_percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def assert_within_bucket(estimate: float | None, exact: float) -> None:
    lower, upper = rollups.bucket_range(rollups.bucket_index(exact))
    assert estimate is not None and lower <= estimate <= upper, (estimate, exact, lower, upper)


@pytest.mark.django_db
def test_writer_rollups_hold_the_batch_totals_per_group() -> None:
    recs = records(400)
    write(recs)
    assert UsageRollup.objects.aggregate(n=Sum("requests"))["n"] == 400
    expected = RequestLog.objects.filter(route="slow", key_id=None, status__gte=400).aggregate(
        n=Count("id"), cost=Sum("cost_usd"), tokens=Sum("input_tokens")
    )
    got = UsageRollup.objects.filter(route="slow", key_id=0, status_class__gte=4).aggregate(
        n=Sum("errors"), cost=Sum("cost_usd"), tokens=Sum("input_tokens")
    )
    assert got == expected
    row = UsageRollup.objects.filter(requests__gt=1).first()
    assert row.hour.minute == 0 and sum(row.latency_hist.values()) == row.requests


@pytest.mark.django_db
def test_a_database_without_the_json_functions_sums_the_rows_in_python(monkeypatch) -> None:
    recs = records(300, seed=11)
    write(recs)
    summed_in_sql = snapshot()
    UsageRollup.objects.all().delete()
    monkeypatch.setattr(rollups, "_MERGED_HIST", {})  # as on a third kind of database
    write(recs)
    assert snapshot() == summed_in_sql


@pytest.mark.django_db
def test_a_stored_histogram_that_is_not_an_object_counts_as_empty() -> None:
    from django.db import connection

    recs = records(40, seed=5, hours=1)
    write(recs, batch=40)
    with connection.cursor() as cursor:  # as a hand edit or an old row might have it
        cursor.execute("UPDATE gateway_usagerollup SET latency_hist = 'null'")
    before = {r.pk: r.requests for r in UsageRollup.objects.all()}
    write(recs, batch=40)  # the same groups again: merged into the rows, no failure
    for row in UsageRollup.objects.all():
        assert row.requests == 2 * before[row.pk]
        assert sum(row.latency_hist.values()) == before[row.pk]  # this batch's alone


@pytest.mark.django_db
def test_rebuild_since_keeps_older_hours() -> None:
    write(records(200))
    cut = rollups.hour_of(NOW - timedelta(hours=10))
    UsageRollup.objects.filter(hour__lt=cut).update(requests=12345)
    rollups.rebuild(cut + timedelta(minutes=20))  # floored to the hour
    assert UsageRollup.objects.filter(hour__lt=cut).exclude(requests=12345).count() == 0
    assert not UsageRollup.objects.filter(hour__gte=cut, requests=12345).exists()


@pytest.mark.django_db
def test_rollups_outlive_pruned_logs_and_have_their_own_retention() -> None:
    write(records(50))
    old = UsageRollup.objects.create(hour=NOW - timedelta(days=500), status_class=2, requests=3)
    kept = UsageRollup.objects.count() - 1
    journal.prune(timedelta(days=0))  # every raw log goes
    assert not RequestLog.objects.exists() and UsageRollup.objects.count() == kept + 1
    assert rollups.prune(timedelta(days=400)) == 1
    assert not UsageRollup.objects.filter(pk=old.pk).exists()
    assert UsageRollup.objects.count() == kept


def test_percentile_from_a_histogram_interpolates_inside_the_right_bucket() -> None:
    values = [3.0] * 50 + [70.0] * 45 + [2500.0] * 5
    hist: dict[str, int] = {}
    for v in values:
        rollups.merge_hist(hist, {str(rollups.bucket_index(v)): 1})
    for fraction in (0.5, 0.95, 0.99):
        assert_within_bucket(
            rollups.percentile_from_hist(hist, fraction), exact_percentile(values, fraction)
        )
    assert rollups.percentile_from_hist({}, 0.5) is None


@pytest.mark.django_db
@pytest.mark.parametrize("window", ["24h", "7d"])
def test_dashboard_from_rollups_matches_raw_rows(window: str) -> None:
    Route.objects.create(name="fast")
    ApiKey.objects.create(pk=1, name="alpha", prefix="sy-alpha", key_hash="a" * 64)
    write(records(900, hours=200))
    board = stats.dashboard(window, now=NOW)
    hours = round(stats.WINDOWS[window].span / timedelta(hours=1))
    since = rollups.hour_of(NOW) - timedelta(hours=hours - 1)
    raw = RequestLog.objects.filter(created_at__gte=since, created_at__lte=NOW)
    agg = raw.aggregate(
        n=Count("id"),
        errors=Count("id", filter=Q(status__gte=400)),
        tin=Sum("input_tokens"),
        tout=Sum("output_tokens"),
        cost=Sum("cost_usd"),
    )
    t = board.totals
    assert (t.requests, t.errors, t.input_tokens, t.output_tokens, t.cost) == (
        agg["n"],
        agg["errors"],
        agg["tin"],
        agg["tout"],
        agg["cost"],
    )
    assert 0 < agg["n"] < RequestLog.objects.count()  # the window cuts the data
    latencies = list(raw.values_list("latency_ms", flat=True))
    ttfts = list(raw.exclude(ttft_ms=None).values_list("ttft_ms", flat=True))
    assert_within_bucket(t.p50_ms, exact_percentile(latencies, 0.5))
    assert_within_bucket(t.p95_ms, exact_percentile(latencies, 0.95))
    assert_within_bucket(t.ttft_p50_ms, exact_percentile(ttfts, 0.5))
    assert_within_bucket(t.ttft_p95_ms, exact_percentile(ttfts, 0.95))
    assert sum(b.requests for b in board.buckets) == agg["n"]
    assert len(board.buckets) == stats.WINDOWS[window].buckets
    routes = {r["route"]: r for r in board.by_route}
    assert set(routes) == {"fast", "slow", "retired"}  # deleted routes included
    retired = raw.filter(route="retired")
    assert routes["retired"]["requests"] == retired.count()
    avg = sum(retired.values_list("latency_ms", flat=True)) / retired.count()
    assert routes["retired"]["avg_ms"] == pytest.approx(avg)
    keys = {r["key_name"]: r for r in board.by_key}
    # Rows with neither a key id nor a name were refused before any key was accepted
    # (the journal names the master key "master"): labelled as such, not "master key".
    assert set(keys) == {"alpha", "gone", stats.REJECTED_LABEL}
    assert keys["alpha"]["key_prefix"] == "sy-alpha" and keys["gone"]["key_prefix"] == ""
    assert keys[stats.REJECTED_LABEL]["key_id"] is None
    assert keys["gone"]["cost"] == raw.filter(key_id=2).aggregate(c=Sum("cost_usd"))["c"]


@pytest.mark.django_db
def test_dashboard_sees_new_and_rebuilt_hours_after_caching_them() -> None:
    write(records(300, hours=100))
    first = stats.dashboard("7d", now=NOW).totals.requests
    old_hour = Record(
        request_id="late",
        created_at=(NOW - timedelta(hours=50)).timestamp(),
        dialect="openai",
        endpoint="chat",
        route="brand-new",
        status=200,
        latency_ms=10,
    )
    journal.write_batch([old_hour])  # a new group in a settled, summarised hour
    assert stats.dashboard("7d", now=NOW).totals.requests == first + 1
    RequestLog.objects.filter(request_id="late").delete()
    rollups.rebuild(NOW - timedelta(days=30))
    assert stats.dashboard("7d", now=NOW).totals.requests == first


@pytest.mark.django_db
def test_a_new_process_reads_finished_hours_from_their_stored_summaries(
    django_assert_max_num_queries,
) -> None:
    from console.models import StoredHourSummary

    write(records(600, hours=160))
    first = stats.dashboard("7d", now=NOW)
    stored = StoredHourSummary.objects.count()
    assert stored > 100  # every finished hour with traffic
    stats._summaries.clear()  # as in a process that just started
    with django_assert_max_num_queries(9):  # versions, stored summaries, unsettled hours
        again = stats.dashboard("7d", now=NOW)
    assert again.totals == first.totals
    assert again.by_route == first.by_route and again.by_key == first.by_key
    assert [b.requests for b in again.buckets] == [b.requests for b in first.buckets]
    assert StoredHourSummary.objects.count() == stored

    # A late record in a finished hour makes its stored summary stale: it is folded
    # again, in this process and the next.
    journal.write_batch(
        [
            Record(
                request_id="late",
                created_at=(NOW - timedelta(hours=50)).timestamp(),
                dialect="openai",
                endpoint="chat",
                route="late-route",
                status=200,
                latency_ms=10,
            )
        ]
    )
    stats._summaries.clear()
    assert stats.dashboard("7d", now=NOW).totals.requests == first.totals.requests + 1
    stats._summaries.clear()
    later = stats.dashboard("7d", now=NOW)
    assert "late-route" in {r["route"] for r in later.by_route}


@pytest.mark.django_db
def test_stored_summaries_older_than_a_week_are_forgotten() -> None:
    from console.models import StoredHourSummary

    ancient = rollups.hour_of(NOW - timedelta(days=10))
    StoredHourSummary.objects.create(hour=ancient, top_id=1, rows=1, summary={})
    write(records(400, hours=100))
    stats.dashboard("7d", now=NOW)
    assert not StoredHourSummary.objects.filter(hour=ancient).exists()
    oldest = StoredHourSummary.objects.order_by("hour").values_list("hour", flat=True).first()
    assert oldest >= NOW - stats.KEEP_SUMMARIES


@pytest.mark.django_db
def test_a_rebuild_folds_the_week_again_so_that_the_next_view_need_not(monkeypatch) -> None:
    write(records(600, hours=160))
    first = stats.dashboard("7d", now=NOW)
    rollups.rebuild(NOW - timedelta(days=30))  # new rollup ids: every kept summary is stale
    stats._summaries.clear()  # the first view in a process that just started
    folded: list[datetime] = []
    summarise = stats._summarise

    def counting(hours):  # type: ignore[no-untyped-def]
        folded.extend(hours)
        return summarise(hours)

    monkeypatch.setattr(stats, "_summarise", counting)
    again = stats.dashboard("7d", now=NOW)
    assert len(folded) <= 2  # only the hours that have not settled yet, not the week
    assert again.totals == first.totals
    assert again.by_route == first.by_route and again.by_key == first.by_key
    assert [b.requests for b in again.buckets] == [b.requests for b in first.buckets]


@pytest.mark.django_db
def test_a_rebuild_stands_when_refolding_the_week_fails(monkeypatch, caplog) -> None:
    write(records(100, hours=20))
    before = snapshot()

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("no summaries today")

    monkeypatch.setattr(stats, "hour_summaries", broken)
    rollups.rebuild(NOW - timedelta(days=2))
    assert snapshot() == before
    assert "after the rollup rebuild" in caplog.text


@pytest.mark.django_db
@pytest.mark.parametrize("column", ["latency_hist", "ttft_hist"])
def test_hourly_histograms_summed_in_sql_match_summing_the_rows(column: str) -> None:
    write(records(500, hours=40))
    rows = UsageRollup.objects.filter(hour__gte=NOW - timedelta(hours=48)).order_by()
    expected: dict[datetime, dict[str, int]] = {}
    for hour, hist in rows.values_list("hour", column):
        rollups.merge_hist(expected.setdefault(hour, {}), hist)
    summed = stats._hist_by_hour(rows, column)
    assert {h: v for h, v in summed.items() if v} == {h: v for h, v in expected.items() if v}
    assert sum(sum(v.values()) for v in summed.values()) > 100


@given(
    st.lists(
        st.datetimes(
            min_value=datetime(2000, 1, 1),
            max_value=datetime(2100, 1, 1),
            timezones=st.sampled_from([UTC, timezone(timedelta(hours=-3, minutes=-30))]),
        )
        | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
        max_size=30,
    )
)
def test_the_kept_hour_floor_is_hour_of_for_any_run_of_moments(moments: list[datetime]) -> None:
    # runs within one hour (what it is made for) as well as jumps, other zones and naive
    moments = [m for moment in moments for m in (moment, moment + timedelta(minutes=17))]
    floor = rollups.hour_floor()
    assert [floor(m) for m in moments] == [rollups.hour_of(m) for m in moments]
    assert all(floor(m).tzinfo is UTC for m in moments)
