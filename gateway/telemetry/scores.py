"""Scores on logged requests (``gateway.models.Score``): checking one, saving it, the log
filter that finds requests by score, and the per-route series the console charts.

A score has a ``name`` (``thumbs``, ``quality``, ...) and a numeric ``value`` (thumbs: 1
up, 0 down; a boolean 1 or 0; a judge's grade in [0, 1]), a categorical ``label``, or
both, and an optional comment. Saving again as the same author under the same name
replaces the earlier score (one vote per person, per key, per judge)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from gateway.models import RequestLog, Score

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
THUMBS = {"up": 1.0, "down": 0.0}
MAX_COMMENT = 5000
# the log filter: ``thumbs`` (any score of that name), ``thumbs=down``, ``quality<0.5``
FILTER = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9_.-]*)\s*(?:(<=|>=|=|<|>)\s*(\S.*?))?\s*$")


class ScoreError(ValueError):
    """A score that cannot be saved; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Given:
    name: str
    value: float | None
    label: str
    comment: str


def clean(name: Any, value: Any = None, label: Any = None, comment: Any = "") -> Given:
    """A score as given: ``value`` a number, a boolean, or ``up``/``down``."""
    name = str(name or "").strip()
    if not NAME.match(name):
        raise ScoreError("name", "a score's name is 1-100 letters, digits, '.', '-' or '_'")
    label = str(label or "").strip()[:100]
    number: float | None
    if value is None or value == "":
        number = None
    elif isinstance(value, bool):
        number = 1.0 if value else 0.0
        if name == "thumbs" and not label:
            label = "up" if value else "down"
    elif isinstance(value, int | float):
        number = float(value)
        if not math.isfinite(number):
            raise ScoreError("value", "value must be a finite number")
    elif isinstance(value, str) and value.strip().lower() in THUMBS:
        label = value.strip().lower()
        number = THUMBS[label]
    else:
        raise ScoreError("value", "value must be a number, true/false, or up/down")
    if number is None and not label:
        raise ScoreError("value", "give a value or a label")
    comment = str(comment or "")
    if len(comment) > MAX_COMMENT:
        raise ScoreError("comment", f"a comment has at most {MAX_COMMENT} characters")
    return Given(name, number, label, comment)


def save(log: RequestLog, given: Given, *, source: str, author: str,
         key_id: int | None = None, reasoning: str = "",
         judge_request_id: str = "") -> Score:  # fmt: skip
    """``given`` on ``log`` by ``author`` (replacing their earlier score of that name);
    a judge's ``reasoning`` and the ``judge_request_id`` of its call are kept with it."""
    score: Score
    score, _ = Score.objects.update_or_create(
        log=log,
        name=given.name,
        source=source,
        author=author[:200],
        defaults={
            "value": given.value,
            "label": given.label,
            "comment": given.comment,
            "key_id": key_id,
            "route": log.route,
            "reasoning": reasoning,
            "judge_request_id": judge_request_id[:40],
            "created_at": timezone.now(),
        },
    )
    return score


def as_dict(score: Score) -> dict[str, Any]:
    return {
        "id": score.pk,
        "name": score.name,
        "value": score.value,
        "label": score.label,
        "comment": score.comment,
        "source": score.source,
        "author": score.author,
        "reasoning": score.reasoning,
        "judge_request_id": score.judge_request_id,
        "created_at": score.created_at,
    }


def log_filter(spec: str) -> Q:
    """Requests with a score matching ``spec``: ``NAME`` (any), ``NAME=VALUE`` (a number,
    ``up``/``down`` or a label), ``NAME<X``, ``NAME>=X``...; ValueError when unreadable."""
    match = FILTER.match(spec or "")
    if match is None:
        raise ValueError("expected a score name, optionally with =, <, <=, > or >= and a value")
    name, op, raw = match.groups()
    scores = Score.objects.filter(name=name)
    if op:
        text = raw.strip().lower()
        try:
            number: float | None = THUMBS[text] if text in THUMBS else float(text)
        except ValueError:
            number = None
        if number is None:
            if op != "=":
                raise ValueError(f"{op} needs a number")
            scores = scores.filter(label__iexact=raw.strip())
        else:
            lookup = {"=": "exact", "<": "lt", "<=": "lte", ">": "gt", ">=": "gte"}[op]
            scores = scores.filter(**{f"value__{lookup}": number})
    return Q(pk__in=scores.values("log_id"))


@dataclass(frozen=True, slots=True)
class Series:
    route: str
    points: list[tuple[datetime, float, int]]  # (bucket start, mean value, count)


def per_route(name: str, since: datetime, *, hourly: bool = False,
              log_ids: Any = None) -> list[Series]:  # fmt: skip
    """The mean of score ``name`` per route and day (or hour) since ``since``;
    ``log_ids`` (a queryset of visible log ids) narrows to what the viewer may see."""
    rows = Score.objects.filter(name=name, created_at__gte=since, value__isnull=False)
    if log_ids is not None:
        rows = rows.filter(log_id__in=log_ids)
    bucket = TruncHour("created_at") if hourly else TruncDay("created_at")
    found: dict[str, list[tuple[datetime, float, int]]] = {}
    for row in (
        rows.annotate(bucket=bucket)
        .values("route", "bucket")
        .annotate(mean=Avg("value"), n=Count("id"))
        .order_by("route", "bucket")
    ):
        found.setdefault(row["route"] or "(none)", []).append(
            (row["bucket"], row["mean"], row["n"])
        )
    return [Series(route, points) for route, points in sorted(found.items())]


def names() -> list[str]:
    return list(Score.objects.order_by("name").values_list("name", flat=True).distinct())
