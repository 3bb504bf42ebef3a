"""The figures of a pinned chart (``gateway.models.PinnedChart``): one journal metric per
group of one dimension over a window, the largest ``TOP`` groups.

Sums over the day and week (requests, errors, cost, tokens by route, model, key, team,
user, end user or tag) read the hourly spend rollups the journal writer keeps
(``SpendRollup``, ``TagSpendRollup``: whole hours, so the window starts at the top of its
first hour, as on Spend), exact whatever the traffic. Everything else (the hour view,
percentiles, cache savings, scores, prompt versions) reads the journal, bounded: a chart
reads at most the newest ``CAP`` rows of its window (requests, or scores for the score
metric: the scores of the one name the chart names, read on that score's ``Scale``), found with one offset read of the time index; a busier window says so
(``Figure.capped``) rather than scan millions of rows. Sums are grouped in
SQL; percentiles from the same bounded rows, grouped in Python. Team and user are
reached through the key (one lookup of the keys seen), so their sums fold exactly.
Results are cached per scope until the next logged request or score (and then kept up
to ``RECOMPUTE_SECONDS`` while traffic keeps coming), so an open board that reloads costs
one indexed read per chart.
Nothing here is on ``/v1``'s path: the board's view calls it."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.utils import timezone

from gateway.models import ApiKey, PinnedChart, RequestLog, Score, ScoreConfig, TagSpendRollup
from gateway.models.telemetry import SpendRollup
from gateway.telemetry import rollups, windows

CAP = 20_000  # the newest rows of its window a chart reads
TOP = 8  # groups drawn; the rest are counted in ``Figure.groups``
LABEL_CHARS = 18  # an axis label's length (the table under the chart shows it whole)
# While requests keep arriving, a chart is recomputed at most this often (per process):
# a busy gateway's open boards do not each cost an aggregate per view.
RECOMPUTE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Metric:
    """How a metric is computed: ``parts`` summed in SQL per group (summable, so groups
    reached through the key fold exactly) and ``value`` made of them; or ``sample``, a
    column whose ``fraction`` percentile is taken in Python. ``scores``: over the scores
    of the window's requests instead of the requests."""

    unit: str
    css: str
    parts: dict[str, Any] = field(default_factory=dict)
    value: Callable[[dict[str, Any]], float] = lambda parts: 0.0
    sample: str = ""
    fraction: float = 0.0
    scores: bool = False
    rollup: dict[str, Any] | None = None  # the same parts over the hourly spend rollups


def _n(parts: dict[str, Any]) -> float:
    return float(parts["n"] or 0)


def _ratio(parts: dict[str, Any]) -> float:
    return float(parts["s"] or 0) / parts["n"] if parts["n"] else 0.0


METRICS: dict[str, Metric] = {
    "requests": Metric("req", "bar", {"n": Count("id")}, _n, rollup={"n": Sum("requests")}),
    "errors": Metric(
        "err",
        "bar-error",
        {"n": Count("id", filter=Q(status__gte=400))},
        _n,
        rollup={"n": Sum("errors")},
    ),
    "cost": Metric("USD", "bar-spend", {"n": Sum("cost_usd")}, _n, rollup={"n": Sum("cost_usd")}),
    "tokens": Metric(
        "tok",
        "bar-tokens",
        {"i": Sum("input_tokens"), "o": Sum("output_tokens")},
        lambda p: float((p["i"] or 0) + (p["o"] or 0)),
        rollup={"i": Sum("input_tokens"), "o": Sum("output_tokens")},
    ),
    "latency_p50": Metric("ms", "bar-latency", sample="latency_ms", fraction=0.5),
    "latency_p95": Metric("ms", "bar-latency", sample="latency_ms", fraction=0.95),
    "latency_p99": Metric("ms", "bar-latency", sample="latency_ms", fraction=0.99),
    "ttft_p50": Metric("ms", "bar-latency", sample="ttft_ms", fraction=0.5),
    # the prompt cache's savings and the response cache's (an answer not bought again)
    "cache_saved": Metric(
        "USD",
        "bar-spend",
        {"p": Sum("cache_saved_usd"), "h": Sum("cache_hit_saved_usd")},
        lambda p: float((p["p"] or 0) + (p["h"] or 0)),
    ),
    "score": Metric("", "bar", {"s": Sum("value"), "n": Count("value")}, _ratio, scores=True),
}


@dataclass(frozen=True, slots=True)
class Dimension:
    """``columns`` of RequestLog grouped in SQL, named by ``label``; ``through_key``: a
    field path of ApiKey reached through ``key_id`` (team, user)."""

    columns: tuple[str, ...]
    label: Callable[[tuple[Any, ...]], str]
    through_key: str = ""
    rollup: tuple[str, ...] | None = None  # the columns of the hourly rollups, if they have it


def _plain(none: str) -> Callable[[tuple[Any, ...]], str]:
    return lambda values: str(values[0]) if values[0] else none


def _key(values: tuple[Any, ...]) -> str:
    key_id, name = values
    if name:
        return str(name)
    return windows.REJECTED_LABEL if not key_id else f"key {key_id}"


def _prompt(values: tuple[Any, ...]) -> str:
    name, version = values
    if not name:
        return "(no prompt)"
    return f"{name} v{version}" if version is not None else str(name)


DIMENSIONS: dict[str, Dimension] = {
    "route": Dimension(("route",), _plain("(no route)"), rollup=("route",)),
    "model": Dimension(("upstream_model",), _plain("(no model)"), rollup=("model",)),
    "key": Dimension(("key_id", "key_name"), _key, rollup=("key_id", "key_name")),
    "team": Dimension(("key_id",), _plain("(no team)"), "team__name", rollup=("key_id",)),
    "user": Dimension(("key_id",), _plain("(no owner)"), "user__username", rollup=("key_id",)),
    "end_user": Dimension(("end_user",), _plain("(no end user)"), rollup=("end_user",)),
    # a request counts under each of its tags; untagged requests under none (as Spend)
    "tag": Dimension(("request_tags__tag",), _plain(""), rollup=("tag",)),
    "prompt_version": Dimension(("prompt_name", "prompt_version"), _prompt),
}


@dataclass(slots=True)
class Figure:
    """A chart's figures: (group, value) the largest first, at most ``TOP``; ``groups``
    is how many there were, ``capped`` whether the window held more rows than ``CAP``."""

    metric: str
    group_by: str
    window: windows.Window
    rows: list[tuple[str, float]]
    groups: int
    capped: bool

    @property
    def unit(self) -> str:
        return METRICS[self.metric].unit


def _bounded(rows: QuerySet, time_field: str) -> tuple[QuerySet, bool]:
    """``rows`` limited to the newest ``CAP`` (by time; ties at the edge all kept out)."""
    edge = list(rows.order_by(f"-{time_field}", "-id").values_list(time_field, flat=True)[CAP:][:1])
    if not edge:
        return rows, False
    return rows.filter(**{f"{time_field}__gt": edge[0]}), True


def _key_labels(dimension: Dimension, key_ids: set[Any]) -> dict[Any, str]:
    ids = [k for k in key_ids if k]
    found = dict(ApiKey.objects.filter(pk__in=ids).values_list("id", dimension.through_key))
    return {k: dimension.label((found.get(k),)) for k in key_ids}


def compute(
    metric: str,
    group_by: str,
    window_key: str,
    key_ids: Collection[int] | None = None,
    now: datetime | None = None,
    score_name: str = "",
) -> Figure:
    """``metric`` per ``group_by`` over ``window_key`` ending ``now``; ``key_ids`` (None:
    every key's, the master key's included) keeps those keys' requests only; the score
    metric averages the scores named ``score_name`` (none without one)."""
    spec, dimension = METRICS[metric], DIMENSIONS[group_by]
    window = windows.WINDOWS[window_key]
    since = (now or timezone.now()) - window.span
    if window.from_rollups and spec.rollup is not None and dimension.rollup is not None:
        rollup = TagSpendRollup if group_by == "tag" else SpendRollup
        kept = rollup.objects.filter(hour__gte=rollups.hour_of(since))
        if now is not None:
            kept = kept.filter(hour__lte=now)
        if key_ids is not None:
            kept = kept.filter(key_id__in=list(key_ids))
        sums = _sums(kept, list(dimension.rollup), spec.rollup)
        return _figure(spec, dimension, metric, group_by, window, sums, capped=False)
    if spec.scores:
        rows: QuerySet = Score.objects.filter(
            created_at__gte=since, value__isnull=False, name=score_name
        )
        prefix, time_field = "log__", "created_at"
    else:
        rows = RequestLog.objects.filter(created_at__gte=since)
        prefix, time_field = "", "created_at"
    if now is not None:
        rows = rows.filter(created_at__lte=now)
    if key_ids is not None:
        rows = rows.filter(**{f"{prefix}key_id__in": list(key_ids)})
    rows, capped = _bounded(rows, time_field)
    columns = [prefix + c for c in dimension.columns]
    grouped: dict[tuple[Any, ...], Any] = {}
    if spec.sample:
        source = rows.exclude(**{f"{prefix}{spec.sample}__isnull": True})
        for *group, value in source.order_by().values_list(*columns, prefix + spec.sample):
            grouped.setdefault(tuple(group), []).append(float(value))
    else:
        grouped = _sums(rows, columns, spec.parts)
    return _figure(spec, dimension, metric, group_by, window, grouped, capped)


def _sums(rows: QuerySet, columns: list[str], parts: dict[str, Any]) -> dict[tuple[Any, ...], Any]:
    """``parts`` summed in SQL per group of ``columns``: {group values: {part: sum}}."""
    aggregates = {f"x_{name}": agg for name, agg in parts.items()}
    return {
        tuple(row[c] for c in columns): {n: row[f"x_{n}"] for n in parts}
        for row in rows.order_by().values(*columns).annotate(**aggregates)
    }


def _figure(
    spec: Metric,
    dimension: Dimension,
    metric: str,
    group_by: str,
    window: windows.Window,
    grouped: dict[tuple[Any, ...], Any],
    capped: bool,
) -> Figure:
    """Groups named (through the key where the dimension says), folded by name, the
    largest ``TOP`` first. A group named "" (a request without a tag) is left out."""
    labels = (
        _key_labels(dimension, {g[0] for g in grouped})
        if dimension.through_key
        else {g: dimension.label(g) for g in grouped}
    )
    folded: dict[str, Any] = {}
    for group, found in grouped.items():
        label = labels[group[0] if dimension.through_key else group]
        if not label:
            continue
        if spec.sample:
            folded.setdefault(label, []).extend(found)
            continue
        into = folded.setdefault(label, dict.fromkeys(spec.parts, 0))
        for name, value in found.items():
            into[name] += value or 0
    values = []
    for label, found in folded.items():
        value = _value(spec, found)
        if _shown(spec, found, value):
            values.append((label, value))
    values.sort(key=lambda item: (-item[1], item[0]))
    return Figure(metric, group_by, window, values[:TOP], len(values), capped)


def _value(spec: Metric, found: Any) -> float:
    if spec.sample:
        return windows.percentile(sorted(found), spec.fraction) or 0.0
    return round(spec.value(found), 8)


def _shown(spec: Metric, found: Any, value: float) -> bool:
    """Whether a group has a figure: a percentile of some rows, a score average of some
    scores, a sum other than zero (routes without errors are no bars of errors)."""
    if spec.sample:
        return bool(found)
    if spec.scores:
        return bool(found["n"])
    return value != 0


def figure(chart: PinnedChart, key_ids: Collection[int] | None) -> Figure:
    """``compute`` for a pinned chart, as of now: the cached figures while no request (or
    score) was logged since, up to the window's ``cache_seconds``; else recomputed, at
    most once per ``RECOMPUTE_SECONDS`` (at the cap, a chart is 75-80 ms on SQLite)."""
    window = windows.WINDOWS[chart.window]
    newest_model = Score if METRICS[chart.metric].scores else RequestLog
    newest = newest_model.objects.order_by("-id").values_list("id", flat=True).first()
    scope = "all" if key_ids is None else ",".join(str(k) for k in sorted(key_ids))
    digest = hashlib.sha256(scope.encode()).hexdigest()[:16]
    score = hashlib.sha256(chart.score_name.encode()).hexdigest()[:16] if chart.score_name else ""
    cache_key = f"console:pinned:{chart.metric}:{score}:{chart.group_by}:{chart.window}:{digest}"
    cached: tuple[Figure, int | None, float] | None = cache.get(cache_key)
    if cached is not None:
        found, seen, computed = cached
        if seen == newest or time.time() - computed < RECOMPUTE_SECONDS:
            return found
    found = compute(chart.metric, chart.group_by, chart.window, key_ids, None, chart.score_name)
    cache.set(cache_key, (found, newest, time.time()), window.cache_seconds)
    return found


@dataclass(frozen=True, slots=True)
class Scale:
    """How a chart of one score reads: ``top``, the height of a full bar (its config's
    maximum; None, a free score: the largest figure), ``words`` its range ("1 to 5"),
    ``share`` a boolean's, whose average is the share of true, printed as a percentage."""

    top: float | None
    words: str
    share: bool = False

    def text(self, value: float) -> str:
        return f"{value:.0%} true" if self.share else f"{value:.2f}"


def score_scale(name: str) -> Scale:
    """The scale of the scores named ``name``: their config's (``ScoreConfig``), else free."""
    config = ScoreConfig.objects.filter(name=name).first()
    if config is None:
        return Scale(None, "free scale")
    if config.data_type == ScoreConfig.DataType.BOOLEAN:
        return Scale(1.0, "share true", share=True)
    return Scale(config.max_value, str(config.range_text))


def short(label: str) -> str:
    """An axis label cut to ``LABEL_CHARS``."""
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"
