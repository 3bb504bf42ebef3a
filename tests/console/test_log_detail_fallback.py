"""A fallback request's log says what happened (#66): the route the caller named is
the request's route, its own attempts are not "fallback", the fallback's attempt is,
and the retry backoff is its own figure, not "Gateway overhead"."""

from __future__ import annotations

import re

from gateway.models import RequestLog


def attempt(route: str, status: int, waited: float = 0.0) -> dict:
    return {
        "deployment_id": 1,
        "deployment": f"echo/{route}",
        "route": route,
        "status": status,
        "duration_ms": 5.0,
        "error": "" if status == 200 else "upstream 503",
        "waited_ms": waited,
    }


def test_a_fallback_request_reads_as_what_happened(staff_client) -> None:
    RequestLog.objects.create(
        request_id="req-fb",
        dialect="openai",
        endpoint="chat",
        route="steady",
        requested_route="flaky",
        provider="echo",
        upstream_model="steady-model",
        status=200,
        latency_ms=700,
        upstream_ms=20,
        overhead_ms=55,
        attempts=[
            attempt("flaky", 503),
            attempt("flaky", 503, 250),
            attempt("flaky", 503, 375),
            attempt("steady", 200),
        ],
    )
    page = staff_client.get("/logs/req-fb/").content.decode()
    route_stat = re.search(r'<span class="label">Route</span>(.*?)</div>', page, re.S)
    assert route_stat is not None
    assert "flaky" in route_stat.group(1) and "answered by fallback" in route_stat.group(1)
    items = re.findall(r"<li class=\"(?:ok|bad)\">(.*?)</li>", page, re.S)
    assert len(items) == 4
    assert not any("fallback" in item for item in items[:3])
    assert "fallback: steady" in items[3]
    assert "after a 250 ms backoff" in items[1]
    assert "Retry backoff 625 ms" in page
    assert "Gateway overhead 55 ms" in page


def test_a_request_its_own_route_answered_has_no_fallback_label(staff_client) -> None:
    RequestLog.objects.create(
        request_id="req-own",
        dialect="openai",
        endpoint="chat",
        route="steady",
        status=200,
        latency_ms=30,
        upstream_ms=20,
        overhead_ms=10,
        attempts=[attempt("steady", 200)],
    )
    page = staff_client.get("/logs/req-own/").content.decode()
    assert "fallback" not in page and "Retry backoff" not in page
    assert "Gateway overhead 10 ms" in page
