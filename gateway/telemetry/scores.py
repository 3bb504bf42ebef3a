"""Scores on logged requests (``gateway.models.Score``): checking one, saving it, the log
filter that finds requests by score, and the per-route series the console charts.

A score has a ``name`` (``thumbs``, ``quality``, ...) and a numeric ``value`` (thumbs: 1
up, 0 down; a boolean 1 or 0; a judge's grade in [0, 1]), a categorical ``label``, or
both, and an optional comment. Saving again as the same author under the same name
replaces the earlier score (one vote per person, per key, per judge).

A score whose name a ``ScoreConfig`` names is governed by it (``governed``), whoever gives
it: the API, a console user, a reviewer working a queue, a judge (``judged``: its grade in
[0, 1] spread over the config's range). A number out of range, an unknown category, a
boolean that is neither is a ``ScoreError`` naming the field and the reason; the callers
answer it as a 422 (the API) or an inline error (the console)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Avg, Count, Q
from django.db.models.functions import TruncDay, TruncHour
from django.utils import timezone

from gateway.base.entries import same_named
from gateway.models import RequestLog, Score, ScoreConfig

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
THUMBS = {"up": 1.0, "down": 0.0}
BOOLEANS = {"true": 1.0, "yes": 1.0, "1": 1.0, "false": 0.0, "no": 0.0, "0": 0.0, **THUMBS}
MAX_CATEGORIES = 50
NUMERIC, CATEGORICAL, BOOLEAN = ScoreConfig.DataType.values
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
    """A score as given: ``value`` a number, a boolean, or ``up``/``down`` (a category's
    name or ``true``/``false`` where the score's config is categorical or boolean);
    checked against the config that names it, if any (``governed``)."""
    name = str(name or "").strip()
    if not NAME.match(name):
        raise ScoreError("name", "a score's name is 1-100 letters, digits, '.', '-' or '_'")
    label = str(label or "").strip()[:100]
    config = config_of(name)
    text = value.strip() if isinstance(value, str) else None
    if config is not None and text and text.lower() not in THUMBS:
        if config.data_type == CATEGORICAL and not label:
            label, value = text, None  # a category given as the value
        elif config.data_type == BOOLEAN and text.lower() in BOOLEANS:
            value = BOOLEANS[text.lower()]
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
    elif isinstance(value, str) and _number(value) is not None:
        number = _number(value)
    else:
        raise ScoreError("value", "value must be a number, true/false, or up/down")
    if number is None and not label:
        raise ScoreError("value", "give a value or a label")
    comment = str(comment or "")
    if len(comment) > MAX_COMMENT:
        raise ScoreError("comment", f"a comment has at most {MAX_COMMENT} characters")
    given = Given(name, number, label, comment)
    return given if config is None else governed(given, config)


def _number(text: str) -> float | None:
    try:
        number = float(text.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def config_of(name: str) -> ScoreConfig | None:
    """The config governing scores named ``name``, if one does (one indexed read; scoring
    is never on the gateway's request path)."""
    found: ScoreConfig | None = ScoreConfig.objects.filter(name=name).first()
    return found


def governed(given: Given, config: ScoreConfig) -> Given:
    """``given`` as ``config`` lets it be stored, or a ``ScoreError`` naming the field and
    why: a numeric config takes a number within its range, a categorical one one of its
    categories (stored as the label, no value), a boolean one 1/0 (true/false, up/down;
    stored with the label true/false unless up/down was given)."""
    name = config.name
    if config.data_type == NUMERIC:
        if given.value is None:
            raise ScoreError("value", f"{name} is a number ({config.range_text}): give a value")
        if config.min_value is not None and given.value < config.min_value:
            raise ScoreError(
                "value", f"{given.value:g} is below {name}'s minimum {config.min_value:g}"
            )
        if config.max_value is not None and given.value > config.max_value:
            raise ScoreError(
                "value", f"{given.value:g} is above {name}'s maximum {config.max_value:g}"
            )
        return given
    if config.data_type == CATEGORICAL:
        if not given.label:
            raise ScoreError("label", f"{name} is one of: {config.range_text}; give a label")
        for category in config.categories:
            if str(category).lower() == given.label.lower():
                return Given(name, None, str(category), given.comment)
        raise ScoreError(
            "label", f"{given.label!r} is not a category of {name} (one of: {config.range_text})"
        )
    if given.value not in (0.0, 1.0):
        raise ScoreError("value", f"{name} is true or false (1 or 0), not {given.value!r}")
    label = given.label if given.label in THUMBS else ("true" if given.value else "false")
    return Given(name, given.value, label, given.comment)


def judged(name: str, grade: float) -> Given:
    """A judge's ``grade`` (in [0, 1]) as a score named ``name``: spread over a numeric
    config's range when it has both ends, true from 0.5 for a boolean one; a categorical
    config takes no grade (``ScoreError`` on ``score_name``)."""
    if not NAME.match(name or ""):
        raise ScoreError("score_name", "a score's name is 1-100 letters, digits, '.', '-' or '_'")
    config = config_of(name)
    if config is None:
        return Given(name, grade, "", "")
    if config.data_type == CATEGORICAL:
        raise ScoreError(
            "score_name",
            f"{name} is categorical ({config.range_text}): a judge gives a grade, "
            "so score it under a numeric or boolean config",
        )
    if config.data_type == BOOLEAN:
        return governed(Given(name, 1.0 if grade >= 0.5 else 0.0, "", ""), config)
    value = grade
    if config.min_value is not None and config.max_value is not None:
        value = config.min_value + grade * (config.max_value - config.min_value)
    return governed(Given(name, value, "", ""), config)


def config_errors(data: Any) -> tuple[dict[str, Any], dict[str, str]]:
    """A score config as sent (``name``, ``data_type``, ``min_value``, ``max_value``,
    ``categories`` as a list or one per line/comma, ``description``): the values to store
    and every field's problem at once (``{}`` when none)."""
    errors: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    if not NAME.match(name):
        errors["name"] = "a score's name is 1-100 letters, digits, '.', '-' or '_'"
    data_type = str(data.get("data_type") or "").strip()
    if data_type not in ScoreConfig.DataType.values:
        errors["data_type"] = "numeric, categorical or boolean"
    bounds: dict[str, float | None] = {}
    for field in ("min_value", "max_value"):
        raw = data.get(field)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            bounds[field] = None
        elif isinstance(raw, bool) or _number(str(raw)) is None:
            errors[field] = "a finite number, or empty for an open end"
        else:
            bounds[field] = _number(str(raw))
    low, high = bounds.get("min_value"), bounds.get("max_value")
    if low is not None and high is not None and low >= high and "max_value" not in errors:
        errors["max_value"] = f"the maximum must be above the minimum ({low:g})"
    raw_categories = data.get("categories") or []
    if isinstance(raw_categories, str):
        raw_categories = re.split(r"[\n,]", raw_categories)
    if not isinstance(raw_categories, list | tuple):
        raw_categories = [raw_categories]
    categories = [str(c).strip() for c in raw_categories if str(c).strip()]
    if data_type == CATEGORICAL:
        if len(categories) < 2:
            errors["categories"] = "a categorical score has at least two categories"
        elif len(categories) > MAX_CATEGORIES:
            errors["categories"] = f"at most {MAX_CATEGORIES} categories"
        elif len({c.lower() for c in categories}) < len(categories):
            errors["categories"] = "each category once"
        elif any(len(c) > 100 for c in categories):
            errors["categories"] = "a category has at most 100 characters"
    elif categories:
        errors["categories"] = "only a categorical score has categories"
    if data_type in (CATEGORICAL, BOOLEAN) and (low is not None or high is not None):
        errors["min_value" if low is not None else "max_value"] = "only a numeric score has a range"
    description = str(data.get("description") or "")
    if len(description) > MAX_COMMENT:
        errors["description"] = f"at most {MAX_COMMENT} characters"
    values = {
        "name": name,
        "data_type": data_type,
        "min_value": low if data_type == NUMERIC else None,
        "max_value": high if data_type == NUMERIC else None,
        "categories": categories if data_type == CATEGORICAL else [],
        "description": description,
    }
    return values, errors


def config_dict(config: ScoreConfig) -> dict[str, Any]:
    return {
        "id": config.pk,
        **same_named(config, "name data_type min_value max_value"),
        "categories": list(config.categories),
        **same_named(config, "description created_by created_at updated_at"),
    }


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


SCORE_FIELDS = (
    "name", "value", "label", "comment", "source", "author", "reasoning", "judge_request_id",
    "created_at",
)  # fmt: skip


def as_dict(score: Score) -> dict[str, Any]:
    return {"id": score.pk, **{name: getattr(score, name) for name in SCORE_FIELDS}}


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
