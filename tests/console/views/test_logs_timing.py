"""The log detail's timing bar (issue #32): a 0 ms segment is not drawn (it cut the
bar's rounded end), a very short one is widened to stay visible."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from console.views.logs import MIN_SEGMENT_PCT, timing
from gateway.models import RequestLog


def log(latency: float, overhead: float | None, upstream: float, ttft: float | None = None):
    return RequestLog(latency_ms=latency, overhead_ms=overhead, upstream_ms=upstream, ttft_ms=ttft)


def test_a_zero_ms_segment_is_left_out() -> None:
    bar = timing(log(120, 0, 120, ttft=40))
    assert bar["segments"] == [{"name": "upstream", "pct": 100.0}]
    assert bar["ttft_pct"] == pytest.approx(100 * 40 / 120)
    no_upstream = timing(log(5, 5, 0))  # refused before any upstream was called
    assert no_upstream["segments"] == [{"name": "overhead", "pct": 100.0}]


def test_a_sliver_is_widened_and_the_rest_narrowed() -> None:
    bar = timing(log(1000, 1, 999))
    widths = {s["name"]: s["pct"] for s in bar["segments"]}
    assert widths["overhead"] == MIN_SEGMENT_PCT
    assert widths["upstream"] == pytest.approx(100 - MIN_SEGMENT_PCT)
    even = timing(log(100, 30, 70))
    assert [(s["name"], s["pct"]) for s in even["segments"]] == [
        ("overhead", 30.0),
        ("upstream", 70.0),
    ]


def test_the_page_draws_no_empty_segment(staff_client: Client) -> None:
    RequestLog.objects.create(
        request_id="req-t",
        dialect="openai",
        endpoint="chat",
        route="r",
        status=200,
        latency_ms=80,
        overhead_ms=0,
        upstream_ms=80,
        ttft_ms=20,
    )
    html = staff_client.get("/logs/req-t/").content.decode()
    bar = re.search(r'<div class="timing".*?</div>\s*</div>', html, re.S).group(0)
    assert 'class="seg overhead"' not in bar and "width: 0" not in bar
    assert 'class="seg upstream" data-width="100.00"' in bar  # console.js sizes it (CSP)
