"""What each version of a prompt did in production: requests, cost, median latency and
the mean of each score, from the journal rows that named the prompt (``prompt_name``,
``prompt_version``: read through the partial index ``log_prompt_version``, which holds
only such rows) over the last ``DAYS`` days. Read when the prompt's page is opened,
never on the request path."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from django.db.models import Avg, Count, Sum
from django.utils import timezone

from gateway.models import RequestLog, Score

DAYS = 30
EVALUATION_SESSION = "experiment:"  # console.evals.runner.session_of
LATENCY_SAMPLE = 2000  # the newest requests a version's median latency is taken over


@dataclass(slots=True)
class VersionMetrics:
    version: int
    requests: int = 0
    errors: int = 0
    cost_usd: Decimal = Decimal(0)
    latency_p50_ms: float | None = None
    scores: list[tuple[str, float, int]] = field(default_factory=list)  # name, mean, count


def per_version(name: str, days: int = DAYS) -> list[VersionMetrics]:
    """Prompt ``name``'s versions that served requests in the last ``days`` days,
    newest version first."""
    since = timezone.now() - timedelta(days=days)
    # an evaluation's calls (an experiment comparing versions on a dataset: the journal
    # session ``experiment:<id>``) are not production traffic
    rows = RequestLog.objects.filter(prompt_name=name, created_at__gte=since).exclude(
        session__startswith=EVALUATION_SESSION
    )
    found: dict[int, VersionMetrics] = {}
    for row in (
        rows.values("prompt_version").annotate(n=Count("id"), cost=Sum("cost_usd")).order_by()
    ):
        number = row["prompt_version"]
        if number is None:
            continue
        found[number] = VersionMetrics(number, row["n"], 0, row["cost"] or Decimal(0))
    for row in (
        rows.filter(status__gte=400).values("prompt_version").annotate(n=Count("id")).order_by()
    ):
        if row["prompt_version"] in found:
            found[row["prompt_version"]].errors = row["n"]
    for number, metrics in found.items():
        latencies = list(
            rows.filter(prompt_version=number, status__lt=400)
            .order_by("-created_at")
            .values_list("latency_ms", flat=True)[:LATENCY_SAMPLE]
        )
        metrics.latency_p50_ms = statistics.median(latencies) if latencies else None
    for row in (
        Score.objects.filter(log__prompt_name=name, log__created_at__gte=since, value__isnull=False)
        .exclude(log__session__startswith=EVALUATION_SESSION)
        .values("log__prompt_version", "name")
        .annotate(mean=Avg("value"), n=Count("id"))
        .order_by("name")
    ):
        scored = found.get(row["log__prompt_version"])
        if scored is not None:
            scored.scores.append((row["name"], row["mean"], row["n"]))
    return [found[n] for n in sorted(found, reverse=True)]
