"""Per-route aggregates of an experiment, computed once from its cells and saved in
``Experiment.summary`` (the results page and the API read that, not 3,000 cells).

The win rate of a column against the baseline counts, over the rows where both have a
headline score, a win as 1 and a tie as ½ (a pairwise judge's value is already that
fraction); its 95 % confidence interval is Wilson's score interval, which stays inside
[0, 1] and behaves at small n and at rates near 0 or 1 where the normal approximation
does not. Human blind votes, when there are any, get the same treatment."""

from __future__ import annotations

import math
from collections import defaultdict
from decimal import Decimal
from typing import Any

from console.evals.models import Cell, Experiment
from console.evals.scorers import label_of, name_of

Z95 = 1.959963984540054
LATENCY_BUCKETS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000)


def wilson(successes: float, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for a proportion (``successes`` may be fractional: ties)."""
    if n <= 0:
        return (0.0, 1.0)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    margin = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return (max(0.0, centre - margin), min(1.0, centre + margin))


def percentile(values: list[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low, high = math.floor(position), math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def win_rate(pairs: list[tuple[float, float]]) -> dict[str, Any] | None:
    """``pairs`` of (candidate, baseline) scores; a pairwise value is passed as
    (value, 0.5). Returns rate, interval, wins, ties, losses, n."""
    if not pairs:
        return None
    wins = ties = losses = 0
    points = 0.0
    for candidate, baseline in pairs:
        if candidate > baseline:
            wins += 1
            points += 1
        elif candidate < baseline:
            losses += 1
        else:
            ties += 1
            points += 0.5
    low, high = wilson(points, len(pairs))
    return {
        "rate": points / len(pairs),
        "low": low,
        "high": high,
        "wins": wins,
        "ties": ties,
        "losses": losses,
        "n": len(pairs),
    }


def compute(experiment: Experiment) -> dict[str, Any]:
    scorer_names = [name_of(s) for s in experiment.scorers]
    headline = scorer_names[0] if scorer_names else None
    pairwise = bool(experiment.scorers) and experiment.scorers[0].get("mode") == "pairwise"
    by_column, unscored, unscored_by_column = _tally(experiment)
    baseline = by_column.get(experiment.baseline, {"headline": {}})
    routes = []
    for index, column in enumerate(experiment.columns):
        c = by_column[index]
        mean_scores = {name: _mean(c["scores"].get(name, [])) for name in scorer_names}
        if index == experiment.baseline:
            win = None
        else:
            win = _win_rate(c["headline"], baseline["headline"], pairwise)
        human = win_rate([(v, 0.5) for v in c["human"].values()]) if c["human"] else None
        latencies = c["latency"]
        routes.append(
            {
                "column": index,
                "label": experiment.column_label(index),
                "route": column["route"],
                "rows": c["rows"],
                "errors": c["errors"],
                "unscored": unscored_by_column[index],
                "mean_score": mean_scores.get(headline) if headline else None,
                "scores": mean_scores,
                "win_rate": win,
                "human_win_rate": human,
                "p50_ms": percentile(latencies, 0.5),
                "p95_ms": percentile(latencies, 0.95),
                "p50_ttft_ms": percentile(c["ttft"], 0.5),
                "total_cost": str(c["cost"]),
                "cost_per_row": str(c["cost"] / c["rows"]) if c["rows"] else "0",
                "input_tokens": c["tokens_in"],
                "output_tokens": c["tokens_out"],
                "latency_histogram": _latency_histogram(latencies),
            }
        )
    labels = {name_of(s): label_of(s) for s in experiment.scorers}
    return {
        "headline": headline,
        "scorers": scorer_names,
        "labels": labels,  # what the headers say: "Judge (1–10)", not judge_pointwise
        "unscored": [
            {"scorer": name, "label": labels.get(name, name), "count": n, "why": why}
            for (name, why), n in sorted(unscored.items(), key=lambda item: -item[1])
        ],
        "baseline": experiment.baseline,
        "latency_buckets_ms": list(LATENCY_BUCKETS_MS),
        "routes": routes,
    }


def _tally(
    experiment: Experiment,
) -> tuple[dict[int, dict[str, Any]], dict[tuple[str, str], int], dict[int, int]]:
    """The experiment's cells summed per column (latencies, costs, tokens, scores), and
    the answers scorers left unscored, by (scorer, why) and by column."""
    by_column: dict[int, dict[str, Any]] = defaultdict(
        lambda: {"latency": [], "ttft": [], "cost": Decimal(0), "rows": 0, "errors": 0,
                 "scores": defaultdict(list), "tokens_in": 0, "tokens_out": 0,
                 "headline": {}, "human": {}}
    )  # fmt: skip
    rows = Cell.objects.filter(experiment=experiment).values_list(
        "row_index", "column", "latency_ms", "ttft_ms", "cost_usd", "error", "scores", "score",
        "input_tokens", "output_tokens", "unscored",
    )  # fmt: skip
    # (scorer name, why) -> answers it left unscored: "3 unscored: the judge's answer had no
    # score", not a silent "done · 0 errors"
    unscored: dict[tuple[str, str], int] = defaultdict(int)
    unscored_by_column: dict[int, int] = defaultdict(int)
    for row, column, latency, ttft, cost, error, scores, score, tin, tout, why in rows.iterator(
        2000
    ):
        for name, reason in (why or {}).items():
            if not error:
                unscored[(name, reason)] += 1
                unscored_by_column[column] += 1
        c = by_column[column]
        c["rows"] += 1
        c["tokens_in"] += tin
        c["tokens_out"] += tout
        c["cost"] += cost or 0
        if error:
            c["errors"] += 1
        else:
            if latency is not None:
                c["latency"].append(latency)
            if ttft is not None:
                c["ttft"].append(ttft)
        for name, value in (scores or {}).items():
            if value is not None and name != "human":
                c["scores"][name].append(value)
        if score is not None:
            c["headline"][row] = score
        if (scores or {}).get("human") is not None:
            c["human"][row] = scores["human"]
    return by_column, unscored, unscored_by_column


def _win_rate(
    headline: dict[int, float], baseline: dict[int, float], pairwise: bool
) -> dict[str, Any] | None:
    """A column's win rate: a pairwise judge's verdicts, or its headline scores against
    the baseline column's on the same rows."""
    if pairwise:
        return win_rate([(v, 0.5) for v in headline.values()])
    return win_rate([(v, baseline[r]) for r, v in headline.items() if r in baseline])


def _latency_histogram(latencies: list[float]) -> list[int]:
    """How many latencies fall in each of LATENCY_BUCKETS_MS, and above the last."""
    histogram = [0] * (len(LATENCY_BUCKETS_MS) + 1)
    for value in latencies:
        histogram[
            next(
                (i for i, b in enumerate(LATENCY_BUCKETS_MS) if value <= b),
                len(LATENCY_BUCKETS_MS),
            )
        ] += 1
    return histogram


def refresh(experiment: Experiment) -> dict[str, Any]:
    summary = compute(experiment)
    experiment.summary = summary
    Experiment.objects.filter(pk=experiment.pk).update(summary=summary)
    return summary
