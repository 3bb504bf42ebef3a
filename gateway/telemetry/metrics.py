"""Prometheus metrics for this process, in memory, updated by every ``journal.record``
(``observe`` is a journal subscriber, and the journal's counters come through
``hooks.journal_stats``, both wired by ``GatewayConfig.ready``).

``observe(record)`` is a few dict updates (cheap enough for the request path);
``render()`` writes the text exposition format served at GET /metrics.

Several workers behind one port (``serve --workers N``) would each answer with their own
counts, a different one per scrape. There ``serve`` gives every worker a shared folder
(``SWITCHYARD_METRICS_DIR``): each worker writes its counts there twice a second and
renders the sum of all files, after writing its own. Files of workers that exited stay
until the next start, so counters never go down.

Three gauges say how loaded the process is now, for an autoscaler (the Kubernetes
manifests' HorizontalPodAutoscaler follows the first): ``switchyard_streams_in_flight``
(answers being streamed), ``switchyard_requests_in_flight`` (API requests, sockets and
MCP calls included) and ``switchyard_event_loop_lag_seconds`` (``gateway.base.loop_lag``).
Across workers the first two are summed and the lag is the worst worker's, counting only
files written in the last ``LIVE_SECONDS``: a worker that exited is no longer in flight.
The lag probe runs only while someone scrapes: a scrape keeps it running in the worker
that answered and, through a mark in the shared folder, in every other worker, for
``SCRAPE_KEEP_SECONDS``; a process never scraped never runs it."""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from gateway.base import hooks, lifecycle, loop_lag

log = logging.getLogger(__name__)
PUBLISH_SECONDS = 0.5
LIVE_SECONDS = 5.0  # a worker's file older than this: its gauges no longer count
# the journal's figures that say what is waiting now (the rest are counters, kept whole)
JOURNAL_GAUGES = frozenset({"queued", "queued_bytes"})
SCRAPE_KEEP_SECONDS = 120.0  # the loop-lag probe runs this long after a scrape
SCRAPE_MARK = "scraped.mark"  # touched by each scrape in the shared folder
COUNTER_FAMILIES = (
    "requests",
    "errors",
    "tokens",
    "cost",
    "disconnects",
    "cache_hits",
    "semantic_cache_hits",
    "cache_saved",
    "shadow_skipped",
    "guardrail_checks",
    "guardrail_bypasses",
    "translation_dropped",
)
HISTOGRAM_FAMILIES = ("latency", "ttft", "overhead")

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
OVERHEAD_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1)
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
_TOKEN_FIELDS = tuple((kind, f"{kind}_tokens") for kind in TOKEN_KINDS)
# Field names come from callers' bodies (an unknown top-level key is one): the series a
# process keeps are bounded, later new names count under "(other)".
TRANSLATION_SERIES_MAX = 500
TRANSLATION_FIELD_MAX = 100

Labels = tuple[tuple[str, str], ...]


LABEL_CACHE_MAX = 10_000  # (route, status, dialect) label sets remembered


class _SeriesLabels(NamedTuple):
    by_status: Labels
    by_route: Labels
    tokens: tuple[Labels, ...]  # by_status and each of TOKEN_KINDS, in its order


class Histogram:
    __slots__ = ("bounds", "counts", "total", "count")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # last: above every bound (+Inf only)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.total += value
        self.count += 1


class Registry:
    """All series of one process. Label sets are (name, value) tuples."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.requests: dict[Labels, int] = defaultdict(int)
        self.errors: dict[Labels, int] = defaultdict(int)
        self.tokens: dict[Labels, int] = defaultdict(int)
        self.cost: dict[Labels, float] = defaultdict(float)
        self.disconnects: dict[Labels, int] = defaultdict(int)
        self.cache_hits: dict[Labels, int] = defaultdict(int)
        self.semantic_cache_hits: dict[Labels, int] = defaultdict(int)
        self.cache_saved: dict[Labels, float] = defaultdict(float)
        self.shadow_skipped: dict[Labels, int] = defaultdict(int)
        self.guardrail_checks: dict[Labels, int] = defaultdict(int)
        self.guardrail_bypasses: dict[Labels, int] = defaultdict(int)
        self.translation_dropped: dict[Labels, int] = defaultdict(int)
        self.latency: dict[Labels, Histogram] = {}
        self.ttft: dict[Labels, Histogram] = {}
        self.overhead: dict[Labels, Histogram] = {}
        # (route, status, dialect) -> its label sets, made once: a request's series
        # are looked up, not built (bounded like the series themselves)
        self._labels: dict[tuple[str, int, str], _SeriesLabels] = {}

    def _series(self, route: str, status: int, dialect: str) -> _SeriesLabels:
        found = self._labels.get((route, status, dialect))
        if found is None:
            by_status = (("route", route), ("status", str(status)), ("dialect", dialect))
            tokens = tuple(by_status + (("type", kind),) for kind in TOKEN_KINDS)
            found = _SeriesLabels(by_status, (("route", route),), tokens)
            if len(self._labels) < LABEL_CACHE_MAX:
                self._labels[(route, status, dialect)] = found
        return found

    def observe(self, rec: Any) -> None:
        route = rec.route or "(none)"
        series = self._series(route, rec.status, rec.dialect or "")
        by_status, by_route = series.by_status, series.by_route
        with self.lock:
            self.requests[by_status] += 1
            if rec.status >= 400:
                self.errors[by_status + (("kind", rec.error_kind or ""),)] += 1
            if rec.client_disconnected:
                self.disconnects[by_route] += 1
            if rec.cache_hit:
                self.cache_hits[by_route] += 1
                semantic = rec.cache_similarity is not None  # the exact cache has none
                if semantic:
                    self.semantic_cache_hits[by_route] += 1
                if rec.cache_hit_saved_usd:
                    kind = "semantic" if semantic else "exact"
                    self.cache_saved[by_route + (("cache", kind),)] += float(
                        rec.cache_hit_saved_usd
                    )
            if rec.guardrails:  # every verdict counted, a fail-open bypass apart
                for note in rec.guardrails:
                    name = str(note.get("name", ""))
                    verdict = str(note.get("verdict", ""))
                    self.guardrail_checks[(("guardrail", name), ("verdict", verdict))] += 1
                    if note.get("bypassed"):
                        self.guardrail_bypasses[(("guardrail", name), ("route", route))] += 1
            if rec.translation:  # what the upstream did not get as the caller sent it
                self._translation(route, rec.translation)
            for (_, field), labels in zip(_TOKEN_FIELDS, series.tokens, strict=True):
                count = getattr(rec, field, 0) or 0
                if count:
                    self.tokens[labels] += count
            if rec.cost_usd:
                self.cost[by_status] += float(rec.cost_usd)
            _histogram(self.latency, by_route, LATENCY_BUCKETS).observe(rec.latency_ms / 1000)
            if rec.ttft_ms is not None:
                _histogram(self.ttft, by_route, LATENCY_BUCKETS).observe(rec.ttft_ms / 1000)
            if rec.overhead_ms is not None:
                _histogram(self.overhead, by_route, OVERHEAD_BUCKETS).observe(
                    rec.overhead_ms / 1000
                )

    def _translation(self, route: str, notes: list[dict[str, str]]) -> None:
        family = self.translation_dropped
        for note in notes:
            field = str(note.get("field", ""))[:TRANSLATION_FIELD_MAX]
            labels = (("route", route), ("field", field), ("action", str(note.get("action"))))
            if labels not in family and len(family) >= TRANSLATION_SERIES_MAX:
                labels = (("route", route), ("field", "(other)"), labels[2])
            family[labels] += 1

    def dump(self) -> dict[str, list[Any]]:
        """The counts as JSON-able lists (for the shared metrics folder)."""
        with self.lock:
            out: dict[str, list[Any]] = {
                name: [[list(map(list, k)), v] for k, v in getattr(self, name).items()]
                for name in COUNTER_FAMILIES
            }
            for name in HISTOGRAM_FAMILIES:
                out[name] = [
                    [list(map(list, k)), list(h.bounds), h.counts, h.total, h.count]
                    for k, h in getattr(self, name).items()
                ]
        return out

    def merge(self, data: dict[str, list[Any]]) -> None:
        """Add another worker's ``dump()``."""
        with self.lock:
            for name in COUNTER_FAMILIES:
                family = getattr(self, name)
                for labels, value in data.get(name, []):
                    family[tuple(map(tuple, labels))] += value
            for name in HISTOGRAM_FAMILIES:
                family = getattr(self, name)
                for labels, bounds, counts, total, count in data.get(name, []):
                    hist = _histogram(family, tuple(map(tuple, labels)), tuple(bounds))
                    hist.counts = [a + b for a, b in zip(hist.counts, counts, strict=False)]
                    hist.total += total
                    hist.count += count


def _histogram(family: dict[Labels, Histogram], labels: Labels, bounds) -> Histogram:  # type: ignore[no-untyped-def]
    found = family.get(labels)
    if found is None:
        found = family[labels] = Histogram(bounds)
    return found


REGISTRY = Registry()


def observe(rec: Any) -> None:
    """Count one finished request (a ``journal.Record``)."""
    REGISTRY.observe(rec)


def count_shadow_skip(route: str, shadow_route: str, reason: str) -> None:
    """Count a mirror of ``route`` to ``shadow_route`` not sent (gateway/core/shadow)."""
    labels = (("route", route), ("shadow_route", shadow_route), ("reason", reason))
    with REGISTRY.lock:
        REGISTRY.shadow_skipped[labels] += 1


# --- exposition -----------------------------------------------------------------------------


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{_escape(value)}"' for name, value in labels)
    return "{" + inner + "}" if inner else ""


def _number(value: float) -> str:
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    return repr(float(value))


def _family(out: list[str], name: str, kind: str, help_text: str) -> None:
    out.append(f"# HELP {name} {help_text}")
    out.append(f"# TYPE {name} {kind}")


def _samples(out: list[str], name: str, series: dict[Labels, float]) -> None:
    for labels, value in sorted(series.items()):
        out.append(f"{name}{_labels(labels)} {_number(value)}")


def _histograms(out: list[str], name: str, family: dict[Labels, Histogram]) -> None:
    for labels, hist in sorted(family.items()):
        running = 0
        for bound, count in zip(hist.bounds, hist.counts, strict=False):
            running += count
            out.append(f"{name}_bucket{_labels(labels + (('le', _number(bound)),))} {running}")
        out.append(f"{name}_bucket{_labels(labels + (('le', '+Inf'),))} {hist.count}")
        out.append(f"{name}_sum{_labels(labels)} {repr(hist.total)}")
        out.append(f"{name}_count{_labels(labels)} {hist.count}")


def _journal_gauges() -> dict[str, int]:
    """The journal's counters, from what registered them (``hooks.journal_stats``: the
    journal sits above telemetry, so it is never imported from here)."""
    stats: dict[str, int] = {}
    for source in hooks.journal_stats:
        for field, value in source().items():
            stats[field] = stats.get(field, 0) + value
    return stats


def live() -> dict[str, float]:
    """This process's load now: requests and streams in flight, the event loop's lag."""
    _, in_flight = lifecycle.activity()
    return {
        "requests_in_flight": in_flight,
        "streams_in_flight": lifecycle.streams(),
        "loop_lag": loop_lag.lag(),
    }


def scraped() -> None:
    """A scrape arrived (called on the event loop by the ``/metrics`` endpoint): keep the
    loop-lag probe running until well after the next one."""
    loop_lag.watch(keep=SCRAPE_KEEP_SECONDS)


# --- several workers: a shared folder ------------------------------------------------------


def shared_dir() -> Path | None:
    value = os.environ.get("SWITCHYARD_METRICS_DIR")
    return Path(value) if value else None


_publishing = threading.Lock()


def publish(folder: Path) -> None:
    """Write this worker's counts and journal stats to ``folder/<pid>.json`` (atomically).

    One at a time per worker: a scrape publishes from the event loop while the timer
    publishes from a thread, and two writers of the one temporary file could leave a
    torn file (read as nothing, so the sum drops) or put an older count back over a
    newer one."""
    target = folder / f"{os.getpid()}.json"
    temporary = target.with_suffix(".tmp")
    with _publishing:
        data = {
            "registry": REGISTRY.dump(),
            "journal": _journal_gauges(),
            "live": live(),
            "at": time.time(),
        }
        temporary.write_text(json.dumps(data))
        temporary.replace(target)


def scrape_age(folder: Path) -> float | None:
    """Seconds since any worker answered a scrape (None: never since the start)."""
    try:
        return max(0.0, time.time() - (folder / SCRAPE_MARK).stat().st_mtime)
    except OSError:
        return None


def _publish_and_age(folder: Path) -> float | None:
    publish(folder)
    return scrape_age(folder)


async def publish_forever(folder: Path, every: float = PUBLISH_SECONDS) -> None:
    while True:
        try:
            age = await asyncio.to_thread(_publish_and_age, folder)
            if age is not None and age < SCRAPE_KEEP_SECONDS:
                loop_lag.watch(keep=SCRAPE_KEEP_SECONDS - age)  # another worker was scraped
        except Exception:
            log.exception("metrics: cannot write to %s", folder)
        await asyncio.sleep(every)


async def start_publishing() -> None:
    """At start-up (``hooks.starters``): with several workers, each publishes its counts
    to the shared folder in the background."""
    shared = shared_dir()
    if shared is not None:
        lifecycle.spawn(publish_forever(shared), name="metrics-publish")


async def publish_last() -> None:
    """At shutdown (``hooks.drainers``, after the journal's drain): this worker's final
    counts (a failure is ignored: the process is going away)."""
    shared = shared_dir()
    if shared is not None:
        with contextlib.suppress(Exception):
            publish(shared)


def _published(folder: Path) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in folder.glob("*.json"):
        with contextlib.suppress(OSError, ValueError):
            found.append(json.loads(path.read_text()))
    return found


def _combined() -> tuple[Registry, Callable[[], dict[str, int]], dict[str, float]]:
    """Every worker's counts and live gauges. This worker publishes its own first and
    then reads only the files: each file only grows, so one scrape never shows less than
    the one before (whichever worker answers); other workers' last half-second may be
    missing. The gauges (the journal's queue among them) count only the workers that
    wrote in the last LIVE_SECONDS."""
    folder = shared_dir()
    if folder is None:
        return REGISTRY, _journal_gauges, live()
    publish(folder)
    with contextlib.suppress(OSError):
        (folder / SCRAPE_MARK).touch()  # the other workers start their lag probes
    total = Registry()
    stats: dict[str, int] = {}
    gauges = {"requests_in_flight": 0.0, "streams_in_flight": 0.0, "loop_lag": 0.0}
    fresh = time.time() - LIVE_SECONDS
    for published in _published(folder):
        total.merge(published.get("registry", {}))
        recent = published.get("at", 0) >= fresh
        for field, value in published.get("journal", {}).items():
            if recent or field not in JOURNAL_GAUGES:  # an exited worker queues nothing
                stats[field] = stats.get(field, 0) + value
        current = published.get("live")
        if isinstance(current, dict) and recent:
            gauges["requests_in_flight"] += current.get("requests_in_flight", 0)
            gauges["streams_in_flight"] += current.get("streams_in_flight", 0)
            gauges["loop_lag"] = max(gauges["loop_lag"], current.get("loop_lag", 0.0))
    return total, lambda: stats, gauges


def render(journal_stats: Callable[[], dict[str, int]] | None = None) -> str:
    """The Prometheus text exposition (format 0.0.4): this process's metrics, or every
    worker's when they share a folder."""
    reg, combined_stats, now = _combined()
    journal_stats = journal_stats or combined_stats
    out: list[str] = []
    with reg.lock:
        _render_counters(out, reg)
        _render_histograms(out, reg)
    _render_journal(out, journal_stats())
    _render_load(out, now)
    return "\n".join(out) + "\n"


def _render_counters(out: list[str], reg: Registry) -> None:
    """The request counters (under ``reg.lock``)."""
    counters: list[tuple[str, str, Mapping[Labels, float]]] = [
        ("switchyard_requests_total", "Requests by route, status and dialect.", reg.requests),
        ("switchyard_errors_total", "Requests answered with status >= 400.", reg.errors),
        ("switchyard_tokens_total", "Tokens by route, status and type.", reg.tokens),
        ("switchyard_cost_usd_total", "Cost in USD by route and status.", reg.cost),
        (
            "switchyard_client_disconnects_total",
            "Requests the client left before the answer ended.",
            reg.disconnects,
        ),
        (
            "switchyard_cache_hits_total",
            "Requests answered from the response cache or the semantic cache (no upstream call).",
            reg.cache_hits,
        ),
        (
            "switchyard_semantic_cache_hits_total",
            "Requests answered from the semantic cache (a similar earlier question).",
            reg.semantic_cache_hits,
        ),
        (
            "switchyard_cache_saved_usd_total",
            "USD the cached answers cost when first asked, by route and cache "
            "(exact or semantic): what the hits did not spend.",
            reg.cache_saved,
        ),
        (
            "switchyard_shadow_skipped_total",
            "Shadow mirrors not sent: the process's loop was saturated (busy) or it "
            "ran its most mirrors at once (in_flight).",
            reg.shadow_skipped,
        ),
        (
            "switchyard_guardrail_checks_total",
            "Guardrail verdicts by guardrail and verdict (none, blocked, intervened, "
            "would_block, would_intervene, error).",
            reg.guardrail_checks,
        ),
        (
            "switchyard_guardrail_bypass_total",
            "Requests a fail-open guardrail let through unchecked (its check failed).",
            reg.guardrail_bypasses,
        ),
        (
            "switchyard_translation_dropped_total",
            "Request fields the upstream did not get as sent, by route, field and action "
            "(dropped, or rewritten: emulated, converted, fetched).",
            reg.translation_dropped,
        ),
    ]
    for name, help_text, series in counters:
        _family(out, name, "counter", help_text)
        _samples(out, name, dict(series))


def _render_histograms(out: list[str], reg: Registry) -> None:
    """The latency histograms (under ``reg.lock``)."""
    histograms = [
        ("switchyard_request_duration_seconds", "Total request latency.", reg.latency),
        ("switchyard_time_to_first_token_seconds", "Time to first token.", reg.ttft),
        (
            "switchyard_overhead_seconds",
            "Gateway time: latency minus upstream time.",
            reg.overhead,
        ),
    ]
    for name, help_text, family in histograms:
        _family(out, name, "histogram", help_text)
        _histograms(out, name, dict(family))


def _render_journal(out: list[str], stats: dict[str, int]) -> None:
    """The journal's queue and write counts."""
    gauges = [
        ("switchyard_journal_queue_depth", "gauge", "Records waiting to be written.", "queued"),
        (
            "switchyard_journal_queue_bytes",
            "gauge",
            "Bytes of records waiting to be written.",
            "queued_bytes",
        ),
        (
            "switchyard_journal_spooled_bytes",
            "gauge",
            "Bytes of queued records' bodies waiting in the journal's spool on disk.",
            "spooled_bytes",
        ),
        ("switchyard_journal_pruned_total", "counter", "Log rows pruned by retention.", "pruned"),
        ("switchyard_journal_written_total", "counter", "Records written.", "written"),
        (
            "switchyard_journal_dropped_total",
            "counter",
            "Records dropped (queue full, database down at exit, or rejected).",
            "dropped",
        ),
        (
            "switchyard_journal_bodies_shed_total",
            "counter",
            "Records stored without their bodies (the queue's memory bound was reached).",
            "bodies_shed",
        ),
        (
            "switchyard_journal_write_failures_total",
            "counter",
            "Failed batch writes (retried).",
            "failures",
        ),
    ]
    for name, kind, help_text, field in gauges:
        _family(out, name, kind, help_text)
        out.append(f"{name} {int(stats.get(field, 0))}")


def _render_load(out: list[str], now: dict[str, float]) -> None:
    """The live gauges: streams and requests in flight, the event loop's lag."""
    load = [
        (
            "switchyard_streams_in_flight",
            "Answers being streamed now (every worker of this server).",
            now["streams_in_flight"],
        ),
        (
            "switchyard_requests_in_flight",
            "API requests in flight now, streams, sockets and MCP calls included.",
            now["requests_in_flight"],
        ),
        (
            "switchyard_event_loop_lag_seconds",
            "How late the event loop runs what is due, smoothed (the worst worker's; "
            "measured while /metrics is scraped, 0 before the first scrape).",
            now["loop_lag"],
        ),
    ]
    for name, help_text, value in load:
        _family(out, name, "gauge", help_text)
        out.append(f"{name} {_number(value)}")
