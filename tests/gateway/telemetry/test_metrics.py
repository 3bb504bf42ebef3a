"""Prometheus metrics: counters and histograms fed from journal records, rendered in the
text exposition format, with the journal's queue depth and drops."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest

from gateway import journal
from gateway.journal import Record, Writer
from gateway.telemetry import metrics

SAMPLE = re.compile(r"^([a-z_]+)(\{.*\})? (\S+)$")


@pytest.fixture(autouse=True)
def fresh_metrics() -> Iterator[None]:
    metrics.REGISTRY.reset()
    yield
    metrics.REGISTRY.reset()


def samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a valid sample line: {line!r}"
        out[match.group(1) + (match.group(2) or "")] = float(match.group(3))
    return out


def rec(**fields) -> Record:
    base = dict(request_id="r", dialect="openai", endpoint="chat", route="echo", status=200)
    base.update(fields)
    return Record(**base)


def test_requests_errors_tokens_and_cost_by_route_and_status() -> None:
    metrics.observe(rec(input_tokens=5, output_tokens=7, cost_usd=Decimal("0.25"), latency_ms=30))
    metrics.observe(rec(input_tokens=1, output_tokens=2, cost_usd=Decimal("0.5"), latency_ms=40))
    metrics.observe(rec(status=502, error_kind="upstream_error", latency_ms=10))
    metrics.observe(
        rec(route="", status=401, error_kind="authentication_error", dialect="anthropic")
    )
    got = samples(metrics.render(lambda: {}))

    ok = 'route="echo",status="200",dialect="openai"'
    assert got[f"switchyard_requests_total{{{ok}}}"] == 2
    assert got['switchyard_requests_total{route="echo",status="502",dialect="openai"}'] == 1
    assert got['switchyard_requests_total{route="(none)",status="401",dialect="anthropic"}'] == 1
    assert (
        got[
            'switchyard_errors_total{route="echo",status="502",dialect="openai",kind="upstream_error"}'
        ]
        == 1
    )
    assert not any(k.startswith("switchyard_errors_total") and 'status="200"' in k for k in got)
    assert got[f'switchyard_tokens_total{{{ok},type="input"}}'] == 6
    assert got[f'switchyard_tokens_total{{{ok},type="output"}}'] == 9
    assert got[f"switchyard_cost_usd_total{{{ok}}}"] == pytest.approx(0.75)


def test_series_past_the_remembered_label_sets_still_count(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(metrics, "LABEL_CACHE_MAX", 1)
    for route in ("a", "b", "b", "c"):
        metrics.observe(rec(route=route, input_tokens=3))
    got = samples(metrics.render(lambda: {}))
    for route, count in (("a", 1), ("b", 2), ("c", 1)):
        labels = f'route="{route}",status="200",dialect="openai"'
        assert got[f"switchyard_requests_total{{{labels}}}"] == count
        assert got[f'switchyard_tokens_total{{{labels},type="input"}}'] == 3 * count
    assert len(metrics.REGISTRY._labels) == 1


def test_latency_ttft_and_overhead_histograms_are_cumulative() -> None:
    metrics.observe(rec(latency_ms=20, ttft_ms=8, overhead_ms=0.7))
    metrics.observe(rec(latency_ms=700, ttft_ms=300, overhead_ms=3))
    metrics.observe(rec(latency_ms=400_000))  # above every bound: only +Inf
    got = samples(metrics.render(lambda: {}))

    name = "switchyard_request_duration_seconds"
    assert got[f'{name}_bucket{{route="echo",le="0.025"}}'] == 1
    assert got[f'{name}_bucket{{route="echo",le="1"}}'] == 2
    assert got[f'{name}_bucket{{route="echo",le="300"}}'] == 2
    assert got[f'{name}_bucket{{route="echo",le="+Inf"}}'] == 3
    assert got[f'{name}_count{{route="echo"}}'] == 3
    assert got[f'{name}_sum{{route="echo"}}'] == pytest.approx(400.72)
    ttft = "switchyard_time_to_first_token_seconds"
    assert got[f'{ttft}_bucket{{route="echo",le="0.01"}}'] == 1
    assert got[f'{ttft}_count{{route="echo"}}'] == 2  # the third had no first token
    overhead = "switchyard_overhead_seconds"
    assert got[f'{overhead}_bucket{{route="echo",le="0.001"}}'] == 1
    assert got[f'{overhead}_bucket{{route="echo",le="0.005"}}'] == 2


def test_label_values_are_escaped() -> None:
    metrics.observe(rec(route='we"ird\\name\nx'))
    text = metrics.render(lambda: {})
    assert 'route="we\\"ird\\\\name\\nx"' in text
    samples(text)  # every line still parses


def test_every_family_has_help_and_type() -> None:
    text = metrics.render(lambda: {})
    for family in (
        "switchyard_requests_total",
        "switchyard_request_duration_seconds",
        "switchyard_journal_queue_depth",
        "switchyard_journal_dropped_total",
    ):
        assert f"# HELP {family} " in text and f"# TYPE {family} " in text


def test_journal_queue_depth_and_drops_are_exposed(monkeypatch: pytest.MonkeyPatch) -> None:
    writer = Writer(lambda batch: [], capacity=3, flush_seconds=1, notify=False)
    monkeypatch.setattr(journal, "_writer", writer)
    for i in range(5):
        journal.record(rec(request_id=f"r{i}"))  # no loop: stays queued, two dropped
    got = samples(metrics.render())
    assert got["switchyard_journal_queue_depth"] == 3
    assert got["switchyard_journal_queue_bytes"] == writer.stats()["queued_bytes"] > 0
    assert got["switchyard_journal_dropped_total"] == 2
    assert got["switchyard_journal_pruned_total"] == 0
    assert got["switchyard_journal_spooled_bytes"] == 0
    assert got['switchyard_requests_total{route="echo",status="200",dialect="openai"}'] == 5


def test_workers_sharing_a_folder_render_the_sum_of_all(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another worker's published counts (as its publish() writes them)
    metrics.observe(rec(input_tokens=5, cost_usd=Decimal("0.25"), latency_ms=30, ttft_ms=5))
    metrics.observe(rec(status=502, error_kind="upstream_error", latency_ms=10))
    monkeypatch.setattr(metrics, "_journal_gauges", lambda: {"written": 2, "dropped": 1})
    metrics.publish(tmp_path)
    (tmp_path / next(tmp_path.glob("*.json")).name).rename(tmp_path / "999999.json")
    metrics.REGISTRY.reset()
    # this worker's own, live counts
    metrics.observe(rec(input_tokens=1, cost_usd=Decimal("0.5"), latency_ms=40, ttft_ms=50))
    monkeypatch.setenv("SWITCHYARD_METRICS_DIR", str(tmp_path))
    got = samples(metrics.render())

    ok = 'route="echo",status="200",dialect="openai"'
    assert got[f"switchyard_requests_total{{{ok}}}"] == 2
    assert got['switchyard_requests_total{route="echo",status="502",dialect="openai"}'] == 1
    assert got[f'switchyard_tokens_total{{{ok},type="input"}}'] == 6
    assert got[f"switchyard_cost_usd_total{{{ok}}}"] == pytest.approx(0.75)
    assert got['switchyard_request_duration_seconds_count{route="echo"}'] == 3
    assert got['switchyard_time_to_first_token_seconds_bucket{route="echo",le="0.005"}'] == 1
    assert got['switchyard_time_to_first_token_seconds_bucket{route="echo",le="+Inf"}'] == 2
    assert got["switchyard_journal_written_total"] == 4  # 2 from each worker
    assert got["switchyard_journal_dropped_total"] == 2
    # a worker that exited (killed with records queued) queues nothing now; its
    # counters still count
    other = tmp_path / "999999.json"
    published = json.loads(other.read_text())
    published["journal"] = {"written": 2, "queued": 7, "queued_bytes": 900}
    other.write_text(json.dumps(published))
    got = samples(metrics.render())
    assert got["switchyard_journal_queue_depth"] == 7  # written just now: it counts
    published["at"] = time.time() - metrics.LIVE_SECONDS - 1
    other.write_text(json.dumps(published))
    got = samples(metrics.render())
    assert got["switchyard_journal_queue_depth"] == 0
    assert got["switchyard_journal_queue_bytes"] == 0
    assert got["switchyard_journal_written_total"] == 4
    # a torn or foreign file is skipped, not fatal
    (tmp_path / "123.json").write_text("{not json")
    assert samples(metrics.render())[f"switchyard_requests_total{{{ok}}}"] == 2


def test_cache_hits_are_counted_per_route() -> None:
    metrics.observe(rec(route="cached", cache_hit=True))
    metrics.observe(rec(route="cached", cache_hit=True))
    metrics.observe(rec(route="cached"))
    metrics.observe(rec(route="other"))
    out = samples(metrics.render(lambda: {}))
    assert out['switchyard_cache_hits_total{route="cached"}'] == 2
    assert not any(k.startswith('switchyard_cache_hits_total{route="other"') for k in out)
    merged = metrics.Registry()
    merged.merge(metrics.REGISTRY.dump())  # what another worker's folder file adds
    assert merged.cache_hits[(("route", "cached"),)] == 2


def test_semantic_cache_hits_and_what_hits_saved_are_counted_per_route() -> None:
    """A semantic hit (it has a similarity) counts as a cache hit and as a semantic one;
    what each hit saved adds up by cache, and sums across workers."""
    saved = Decimal("0.002")
    metrics.observe(
        rec(route="sem", cache_hit=True, cache_similarity=0.97, cache_hit_saved_usd=saved)
    )
    metrics.observe(
        rec(route="sem", cache_hit=True, cache_similarity=0.91, cache_hit_saved_usd=saved)
    )
    metrics.observe(rec(route="sem", cache_hit=True, cache_hit_saved_usd=Decimal("0.001")))
    metrics.observe(rec(route="sem"))  # a miss
    out = samples(metrics.render(lambda: {}))
    assert out['switchyard_cache_hits_total{route="sem"}'] == 3
    assert out['switchyard_semantic_cache_hits_total{route="sem"}'] == 2
    assert out['switchyard_cache_saved_usd_total{route="sem",cache="semantic"}'] == pytest.approx(
        0.004
    )
    assert out['switchyard_cache_saved_usd_total{route="sem",cache="exact"}'] == pytest.approx(
        0.001
    )
    merged = metrics.Registry()
    merged.merge(metrics.REGISTRY.dump())
    merged.merge(metrics.REGISTRY.dump())  # a second worker's file
    assert merged.semantic_cache_hits[(("route", "sem"),)] == 4


def test_shadow_skips_are_counted_and_summed_across_workers():
    labels = (("route", "primary"), ("shadow_route", "cheap"), ("reason", "busy"))
    before = metrics.REGISTRY.shadow_skipped[labels]
    metrics.count_shadow_skip("primary", "cheap", "busy")
    assert metrics.REGISTRY.shadow_skipped[labels] == before + 1
    total = metrics.Registry()
    total.merge(metrics.REGISTRY.dump())
    total.merge(metrics.REGISTRY.dump())  # a second worker with the same counts
    assert total.shadow_skipped[labels] == 2 * (before + 1)
