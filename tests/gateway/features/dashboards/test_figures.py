"""A pinned chart's figures (``gateway.features.dashboards.figures``): every metric and every dimension the
model offers is computed, each from the journal rows of its window, the reader's keys
only, and no more than ``CAP`` of them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from gateway.features.dashboards import figures as pinned
from gateway.models import ApiKey, PinnedChart, RequestLog, Score, Team
from gateway.models.tags import RequestTag
from gateway.telemetry import spend, tag_spend


def test_every_choice_of_the_model_is_computed() -> None:
    assert set(pinned.METRICS) == set(PinnedChart.Metric.values)
    assert set(pinned.DIMENSIONS) == set(PinnedChart.GroupBy.values)


def log(**fields) -> RequestLog:
    base = {
        "request_id": f"r{RequestLog.objects.count()}",
        "dialect": "openai",
        "endpoint": "chat",
        "status": 200,
        "created_at": timezone.now() - timedelta(minutes=5),
    }
    return RequestLog.objects.create(**{**base, **fields})


@pytest.fixture
def journal(db) -> dict:
    """Two teams' keys (alice's in red, bob's in blue) and the master key, over two
    routes and models, with tags, a prompt version, scores and one old request."""
    red, blue = Team.objects.create(name="red"), Team.objects.create(name="blue")
    alice = User.objects.create_user("alice")
    bob = User.objects.create_user("bob")
    ka = ApiKey.objects.create(name="ka", prefix="sy-a", key_hash="a" * 64, team=red, user=alice)
    kb = ApiKey.objects.create(name="kb", prefix="sy-b", key_hash="b" * 64, team=blue, user=bob)
    a1 = log(key_id=ka.pk, key_name="ka", route="chat", upstream_model="gpt-x", latency_ms=100,
             ttft_ms=10, input_tokens=10, output_tokens=5, cost_usd=Decimal("0.5"),
             cache_saved_usd=Decimal("0.1"), end_user="u1", prompt_name="greet", prompt_version=2)  # fmt: skip
    a2 = log(key_id=ka.pk, key_name="ka", route="chat", upstream_model="gpt-x", latency_ms=300,
             ttft_ms=30, input_tokens=1, output_tokens=1, cost_usd=Decimal("0.25"), status=500,
             cache_hit_saved_usd=Decimal("0.2"), end_user="u1")  # fmt: skip
    b1 = log(key_id=kb.pk, key_name="kb", route="code", upstream_model="claude", latency_ms=50,
             input_tokens=100, output_tokens=50, cost_usd=Decimal("2"), end_user="u2")  # fmt: skip
    log(key_id=0, key_name="master", route="code", upstream_model="claude", latency_ms=70)
    log(key_id=ka.pk, key_name="ka", route="chat", created_at=timezone.now() - timedelta(days=2),
        cost_usd=Decimal("9"))  # fmt: skip  # outside the day's window
    for row, tags in ((a1, ["prod", "eu"]), (a2, ["prod"]), (b1, ["dev"])):
        RequestTag.objects.bulk_create(
            [RequestTag(log=row, tag=t, created_at=row.created_at) for t in tags]
        )
    logs = RequestLog.objects.all()
    spend.rebuild()  # the journal writer keeps both rollups; these rows were made directly
    tag_spend.add(
        tag_spend.tally(
            (row.created_at, [t.tag for t in row.request_tags.all()], row.key_id, row.key_name,
             row.status, row.input_tokens, row.output_tokens, row.cache_read_tokens,
             row.cache_write_tokens, row.cost_usd)
            for row in logs
        )
    )  # fmt: skip
    Score.objects.create(log=a1, name="thumbs", value=1, source="user", route="chat")
    Score.objects.create(log=a2, name="thumbs", value=0, source="user", route="chat")
    Score.objects.create(log=b1, name="quality", value=0.5, source="judge", route="code")
    return {"red": red, "blue": blue, "ka": ka, "kb": kb}


def figures(metric: str, group_by: str, key_ids=None, window: str = "24h") -> dict[str, float]:
    score_name = "thumbs" if metric == "score" else ""  # a chart of scores names one
    return dict(pinned.compute(metric, group_by, window, key_ids, None, score_name).rows)


@pytest.mark.parametrize(
    ("metric", "group_by", "expected"),
    [
        ("requests", "route", {"chat": 2, "code": 2}),
        ("requests", "model", {"gpt-x": 2, "claude": 2}),
        ("requests", "key", {"ka": 2, "kb": 1, "master": 1}),
        ("requests", "team", {"red": 2, "blue": 1, "(no team)": 1}),
        ("requests", "user", {"alice": 2, "bob": 1, "(no owner)": 1}),
        ("requests", "end_user", {"u1": 2, "u2": 1, "(no end user)": 1}),
        ("requests", "tag", {"prod": 2, "eu": 1, "dev": 1}),  # untagged: under no tag
        ("requests", "prompt_version", {"greet v2": 1, "(no prompt)": 3}),
        ("errors", "route", {"chat": 1}),  # a route without errors draws no bar
        ("cost", "team", {"red": 0.75, "blue": 2.0}),
        ("tokens", "route", {"chat": 17, "code": 150}),
        ("cache_saved", "key", {"ka": pytest.approx(0.3)}),  # prompt cache + response cache
        ("latency_p50", "route", {"chat": 100, "code": 50}),
        ("latency_p95", "route", {"chat": 300, "code": 70}),
        ("latency_p99", "team", {"red": 300, "blue": 50, "(no team)": 70}),
        ("ttft_p50", "key", {"ka": 10}),  # requests without a first token are left out
        ("score", "route", {"chat": 0.5}),  # thumbs only: quality is another scale
        ("score", "team", {"red": 0.5}),
        ("score", "tag", {"prod": 0.5, "eu": 1.0}),
    ],
)
@pytest.mark.parametrize("window", ["1h", "24h"])  # the journal's rows; the day's rollups
def test_each_metric_by_each_dimension(journal, metric, group_by, expected, window) -> None:
    assert figures(metric, group_by, window=window) == expected


def test_largest_first_and_the_window_counts(journal) -> None:
    rows = pinned.compute("cost", "route", "24h").rows
    assert rows == [("code", 2.0), ("chat", 0.75)]
    assert figures("cost", "route", window="7d") == {"code": 2.0, "chat": 9.75}
    assert figures("requests", "route", window="1h") == {"chat": 2, "code": 2}


def test_a_scope_keeps_its_keys_requests_only(journal) -> None:
    red_only = [journal["ka"].pk]
    assert figures("requests", "team", red_only) == {"red": 2}
    assert figures("score", "route", red_only) == {"chat": 0.5}
    assert figures("requests", "route", []) == {}


def test_at_most_cap_rows_are_read_and_it_says_so(journal, monkeypatch) -> None:
    monkeypatch.setattr(pinned, "CAP", 2)
    found = pinned.compute("requests", "route", "1h")
    assert found.capped and sum(v for _, v in found.rows) <= 2
    assert not pinned.compute("requests", "route", "24h").capped  # the rollups: exact
    assert pinned.compute("latency_p50", "route", "24h").capped  # percentiles: the journal
    monkeypatch.setattr(pinned, "CAP", 100)
    assert not pinned.compute("requests", "route", "1h").capped


def test_the_largest_groups_are_drawn_and_the_others_counted(db, monkeypatch) -> None:
    for i in range(5):
        for _ in range(i + 1):
            log(route=f"r{i}")
    monkeypatch.setattr(pinned, "TOP", 3)
    found = pinned.compute("requests", "route", "1h")
    assert [label for label, _ in found.rows] == ["r4", "r3", "r2"]
    assert found.groups == 5


def test_a_cached_figure_is_recomputed_after_a_new_request(journal, monkeypatch) -> None:
    chart = PinnedChart(metric="requests", group_by="route", window="1h")
    assert dict(pinned.figure(chart, None).rows) == {"chat": 2, "code": 2}
    log(route="chat")
    monkeypatch.setattr(pinned, "RECOMPUTE_SECONDS", 3600.0)  # kept while recently computed
    assert dict(pinned.figure(chart, None).rows) == {"chat": 2, "code": 2}
    monkeypatch.setattr(pinned, "RECOMPUTE_SECONDS", 0.0)
    assert dict(pinned.figure(chart, None).rows) == {"chat": 3, "code": 2}
    assert dict(pinned.figure(chart, [journal["kb"].pk]).rows) == {"code": 1}  # its own scope


def test_long_labels_are_cut_for_the_axis() -> None:
    assert pinned.short("a" * 40) == "a" * (pinned.LABEL_CHARS - 1) + "…"
    assert pinned.short("chat") == "chat"
