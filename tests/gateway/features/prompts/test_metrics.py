"""A prompt's page shows what each version did in production: requests, errors, cost,
the median latency and the mean of each score, from the journal rows that named it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from gateway.features.prompts import metrics, versions
from gateway.models import RequestLog, Score


def _log(n: int, version: int, latency: float, *, status: int = 200, name: str = "triage",
         cost: str = "0.01", age: timedelta = timedelta(0)) -> RequestLog:  # fmt: skip
    return RequestLog.objects.create(
        request_id=f"r-{version}-{n}-{status}-{name}", dialect="openai", endpoint="chat",
        route="chat", status=status, latency_ms=latency, cost_usd=Decimal(cost),
        prompt_name=name, prompt_version=version, created_at=timezone.now() - age,
    )  # fmt: skip


def test_per_version_metrics(staff_client: Client) -> None:
    prompt, _ = versions.create("triage", versions.draft("Ticket {{body}}"))
    versions.add_version(prompt, versions.draft("Ticket, briefly: {{body}}"))
    one = [_log(i, 1, latency) for i, latency in enumerate([100, 300, 200])]
    _log(9, 1, 5000, status=502)
    two = [_log(i, 2, latency, cost="0.02") for i, latency in enumerate([50, 70])]
    _log(1, 2, 10, age=timedelta(days=40))  # outside the window
    _log(1, 3, 10, name="other")  # another prompt
    for row, value in zip(one, [0.5, 0.7, 0.9], strict=True):
        Score.objects.create(log=row, name="quality", value=value, source="judge", author="j")
    Score.objects.create(log=two[0], name="quality", value=1.0, source="judge", author="j")
    Score.objects.create(log=two[0], name="thumbs", value=1.0, label="up", source="user",
                         author="ops")  # fmt: skip
    found = {m.version: m for m in metrics.per_version("triage")}
    assert set(found) == {1, 2}
    assert (found[1].requests, found[1].errors, found[1].cost_usd) == (4, 1, Decimal("0.04"))
    assert found[1].latency_p50_ms == 200  # errors left out of the latency
    assert [(n, round(m, 2), c) for n, m, c in found[1].scores] == [("quality", 0.7, 3)]
    assert (found[2].requests, found[2].latency_p50_ms) == (2, 60)
    assert found[2].scores == [("quality", 1.0, 1), ("thumbs", 1.0, 1)]
    page = staff_client.get("/prompts/triage/").content.decode()
    assert 'id="version-metrics"' in page and "200 ms" in page and "quality 0.70" in page
    empty, _ = versions.create("unused", versions.draft("x"))
    assert (
        "No request has named this prompt yet"
        in staff_client.get("/prompts/unused/").content.decode()
    )


def test_an_evaluations_calls_are_not_production(staff_client: Client) -> None:
    """A comparison of versions on a dataset (console.evals.prompt_runs) names the
    prompt in every call; those calls, journaled under ``experiment:<id>``, stay out."""
    versions.create("triage", versions.draft("Ticket {{body}}"))
    _log(1, 1, 100)
    evaluation = _log(2, 1, 900)
    RequestLog.objects.filter(pk=evaluation.pk).update(session="experiment:7")
    Score.objects.create(log=evaluation, name="quality", value=0.1, source="judge")
    [v1] = metrics.per_version("triage")
    assert (v1.requests, v1.latency_p50_ms, v1.scores) == (1, 100, [])
