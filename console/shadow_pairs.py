"""A route's shadow traffic as pairs: each mirrored request beside its primary, with
both answers read back from the logged bodies (``gateway.web.answers``), and the summary per
shadow route (gateway/core/shadow)."""

from __future__ import annotations

import difflib
import statistics
from dataclasses import dataclass, field
from decimal import Decimal

from gateway.models import RequestBody, RequestLog, Route
from gateway.web.answers import answer_text

PAIRS = 100  # the newest mirrored requests shown
COMPARED_CHARS = 4_000  # of each answer, for the likeness ratio


@dataclass
class Pair:
    primary: RequestLog
    mirror: RequestLog
    primary_text: str | None
    mirror_text: str | None
    primary_request: str = ""  # the request body the client sent (for a judge's question)
    score: float | None = None  # set by a scoring run (console.shadow_scoring)

    @property
    def likeness(self) -> float | None:
        if self.primary_text is None or self.mirror_text is None:
            return None
        a, b = self.primary_text[:COMPARED_CHARS], self.mirror_text[:COMPARED_CHARS]
        return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


@dataclass
class Summary:
    route: str
    pairs: list[Pair] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.pairs)

    @property
    def succeeded(self) -> int:
        return sum(1 for p in self.pairs if p.mirror.status == 200)

    @property
    def likeness(self) -> float | None:
        values = [p.likeness for p in self.pairs if p.likeness is not None]
        return statistics.fmean(values) if values else None

    def _median(self, side: str) -> float | None:
        values = [getattr(p, side).latency_ms for p in self.pairs]
        return statistics.median(values) if values else None

    @property
    def primary_latency(self) -> float | None:
        return self._median("primary")

    @property
    def mirror_latency(self) -> float | None:
        return self._median("mirror")

    @property
    def primary_cost(self) -> Decimal:
        return sum((p.primary.cost_usd for p in self.pairs), Decimal(0))

    @property
    def mirror_cost(self) -> Decimal:
        return sum((p.mirror.cost_usd for p in self.pairs), Decimal(0))


def pairs_of(route: Route, limit: int = PAIRS) -> list[Pair]:
    """The newest mirrored requests of ``route`` with their primaries (two indexed
    reads and one for the bodies)."""
    mirrors = list(
        RequestLog.objects.filter(
            route__in=route.shadow_routes or [], shadow_of__isnull=False
        ).order_by("-created_at", "-id")[:limit]
    )
    return _paired(route, mirrors)


def pairs_by_id(route: Route, request_ids: list[str]) -> list[Pair]:
    """The pairs of these mirrored requests (those still in the log), in that order."""
    found = {
        log.request_id: log
        for log in RequestLog.objects.filter(request_id__in=request_ids, shadow_of__isnull=False)
    }
    return _paired(route, [found[i] for i in request_ids if i in found])


def _paired(route: Route, mirrors: list[RequestLog]) -> list[Pair]:
    primaries = {
        log.request_id: log
        for log in RequestLog.objects.filter(
            request_id__in={m.shadow_of for m in mirrors}, route=route.name
        )
    }
    wanted = [m for m in mirrors if m.shadow_of in primaries]
    ids = [m.pk for m in wanted] + [primaries[m.shadow_of].pk for m in wanted]
    bodies = {  # (model objects: a body stored as parts is joined when loaded)
        b.log_id: (b.inbound_request, b.outbound_response)
        for b in RequestBody.objects.filter(log_id__in=ids).only(
            "log_id", "inbound_request", "outbound_response", "parts"
        )
    }
    return [
        Pair(
            primary=(p := primaries[m.shadow_of]),
            mirror=m,
            primary_text=answer_text(p.dialect, bodies.get(p.pk, ("", ""))[1]),
            mirror_text=answer_text(m.dialect, bodies.get(m.pk, ("", ""))[1]),
            primary_request=bodies.get(p.pk, ("", ""))[0],
        )
        for m in wanted
    ]
