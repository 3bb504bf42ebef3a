"""The request-log query: one set of filters, one text search and one keyset cursor,
shared by the management API's ``GET /api/logs`` and the console's log table and live
tail (so the two surfaces always agree on what a filter or a cursor means).

It lives in ``gateway`` because the API is gateway's and gateway never imports the
console (the console builds on gateway, not the other way round). It imports no
framework beyond the ORM: the API turns ``InvalidFilter`` into a 422, the console's form
has already dropped invalid values.

The list is ordered newest first by (created_at, id). A cursor names the last row of a
page; the next page starts strictly after it. Every filter reads an index range ending
in (created_at, id) (see ``RequestLog.Meta``), so a deep page costs what the first does
and nothing ever counts or skips rows. A text search reads at most ``SEARCH_SCAN_ROWS``
rows per page, so its pages may hold fewer rows than asked for (even none) and still
have a next cursor: a list ends when ``next_cursor`` is None, not at a short page.

Where body logging is on, a text search also looks in the bodies the client sent and
got (``BODY_SEARCH_FIELDS``). A body is kilobytes where a row's searched columns are
bytes, so such a page reads a shorter stretch (``BODY_SEARCH_SCAN_ROWS`` rows, each
joined to its body by primary key) and hands on its cursor in the same way. A request
body stored as an envelope and parts (``gateway.base.body_parts``) is searched in both:
the envelope like any body, its parts through ``body_blobs.logs_holding`` for the rows
of the stretch (each part shared by a session's turns read once). ``filtered`` does the
same among the ids it is given (``among``: the live tail's new rows); without them it
searches envelopes only, and ``matching_ids`` pages through ``search_page`` instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.db.models.lookups import Exact
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from gateway.base.errors import BUDGET_EXCEEDED
from gateway.base.numbers import row_id
from gateway.models import ApiKey, RequestBody, RequestLog, StatusClass, body_blobs
from gateway.telemetry.ages import parse_age

PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
FILTERS = (
    "since", "until", "route", "key", "status", "dialect", "end_user", "session", "tag", "q", "score",
    "agent_run",
)  # fmt: skip
# What the text search (``q``) looks in, case-insensitively, anywhere in the value.
SEARCH_FIELDS = (
    "request_id", "route", "error_kind", "error_message", "upstream_model", "key_name",
)  # fmt: skip
# The bodies a search also looks in where body logging is on: what the client sent and
# what it got back (the upstream's copies say the same in another dialect).
BODY_SEARCH_FIELDS = ("inbound_request", "outbound_response")
# How many rows (newest first, past the cursor, matching the other filters) one page of
# a text search looks at. A substring match can use no index, so a rare term would read
# every row (7-8 s at a million rows on SQLite); a page instead stops here and hands out
# a cursor to search on from where it stopped.
SEARCH_SCAN_ROWS = 5_000
# The same bound for a search that reads bodies too (see the module's docstring); the
# smaller of the two is used. Measured in bench/README.md ("The console at a million
# log rows").
BODY_SEARCH_SCAN_ROWS = 1_000
# What only a request's detail shows: JSON lists a list row leaves unread. A list row
# carries every other column (a new column too, so no list reads it a row at a time).
# The bodies live in another table (RequestBody).
DETAIL_ONLY = frozenset({"attempts", "mcp_calls", "guardrails", "translation"})
LIST_FIELDS = tuple(f.name for f in RequestLog._meta.concrete_fields if f.name not in DETAIL_ONLY)
STATUS_CLASS = re.compile(r"^([1-5])xx$", re.IGNORECASE)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


class InvalidFilter(ValueError):
    """A filter or cursor value this query cannot use; ``str()`` names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# --- filters ----------------------------------------------------------------------------


def parse_moment(value: datetime | str, name: str) -> datetime:
    """An aware datetime, an ISO 8601 time, epoch seconds, or an age before now
    (``15m``, ``12h``, ``7d``)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    value = value.strip()
    try:
        ago: datetime = timezone.now() - parse_age(value)
        return ago
    except ValueError:
        pass
    try:
        return datetime.fromtimestamp(float(value), tz=UTC)
    except (ValueError, OverflowError):
        pass
    moment: datetime | None = parse_datetime(value)
    if moment is None:
        raise InvalidFilter(name, "expected an ISO 8601 time, epoch seconds or an age like 12h")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def status_filter(value: str | int) -> Q:
    """``404``; a class (``4xx``, ``5xx``); ``ok`` (below 400) or ``error`` (400 and up);
    ``budget`` (a 429 refused by a budget: its outcome ``budget_exceeded``) or
    ``rate_limit`` (any other 429: an rpm or tpm limit, an upstream's)."""
    value = str(value).strip().lower()
    if value == "ok":
        return Q(status__lt=400)
    if value == "error":
        return Q(status__gte=400)
    if value in ("budget", "rate_limit"):  # within the 429s of the status class index
        too_many = Q(Exact(StatusClass("status"), 4), status=429)
        budget = Q(error_kind=BUDGET_EXCEEDED)
        return too_many & (budget if value == "budget" else ~budget)
    match = STATUS_CLASS.match(value)
    if match:  # the expression of the log_status_class_time index, so it is used
        return Q(Exact(StatusClass("status"), int(match.group(1))))
    if len(value) <= 3 and value.isascii() and value.isdigit():  # and its class: one index range
        code = int(value)
        return Q(Exact(StatusClass("status"), code // 100), status=code)
    raise InvalidFilter(
        "status",
        "expected a status code (404), a class (4xx, 5xx), ok, error, budget or rate_limit",
    )


def key_filter(value: str | int) -> Q:
    """A key id, ``master`` (the master key), or a key's name."""
    value = str(value).strip()
    if value.isascii() and value.isdigit() and len(value) <= 18:  # "²" and 2**64 are names
        return Q(key_id=int(value))
    if value == "master":
        return Q(key_id__isnull=True, key_name="master")
    ids = list(ApiKey.objects.filter(name=value).values_list("id", flat=True))
    return Q(key_id__in=ids) if ids else Q(key_name=value)


def search_filter(text: str, bodies: bool = False) -> Q:
    """Rows with ``text`` in a search field (and, with ``bodies``, in a body); a status
    code (``429``) also matches that status."""
    found = Q()
    for field in SEARCH_FIELDS:
        found |= Q(**{f"{field}__icontains": text})
    if len(text) == 3 and text.isascii() and text.isdigit():
        found |= Q(status=int(text))
    if bodies:
        for field in BODY_SEARCH_FIELDS:
            found |= Q(**{f"body__{field}__icontains": text})
    return found


def searches_bodies() -> bool:
    """Whether a text search looks in bodies: where they are logged."""
    from django.conf import settings

    return bool(getattr(settings, "SWITCHYARD_LOG_BODIES", False))


def parts_holding(text: str, ids: list[int], using: str) -> set[int]:
    """The logs among ``ids`` whose request body holds ``text`` in a part stored once
    (``BODY_SEARCH_FIELDS``' split bodies; their envelopes are ``search_filter``'s)."""
    if not ids:
        return set()
    split = RequestBody.objects.using(using).filter(log_id__in=ids, parts__isnull=False)
    return body_blobs.logs_holding(
        text, dict(split.values_list("log_id", "parts")), BODY_SEARCH_FIELDS, using
    )


def filtered(params: Mapping[str, Any], among: list[int] | None = None) -> QuerySet[RequestLog]:
    """The list's rows (newest first, list columns only) for ``params``, whose keys are
    ``FILTERS``; a missing, None or empty value means no filter. Raises
    ``InvalidFilter`` for a value it cannot read. With ``among``, only rows of those ids,
    and a text search looks in their bodies' parts too."""
    unknown = set(params) - set(FILTERS)
    if unknown:
        raise TypeError(f"unknown log filters: {sorted(unknown)}")
    given = {k: v for k, v in params.items() if v is not None and v != ""}
    rows = RequestLog.objects.only(*LIST_FIELDS).order_by("-created_at", "-id")
    if among is not None:
        rows = rows.filter(pk__in=among)
    if "since" in given:
        rows = rows.filter(created_at__gte=parse_moment(given["since"], "since"))
    if "until" in given:
        rows = rows.filter(created_at__lt=parse_moment(given["until"], "until"))
    if "route" in given:
        rows = rows.filter(route=given["route"])
    if "key" in given:
        rows = rows.filter(key_filter(given["key"]))
    if "status" in given:
        rows = rows.filter(status_filter(given["status"]))
    if "dialect" in given:
        rows = rows.filter(dialect=given["dialect"])
    for name in ("end_user", "session", "agent_run"):  # attribution, each on its own index
        if name in given:
            rows = rows.filter(**{name: given[name]})
    if "tag" in given:  # through RequestTag's (tag, time) index; one row per log and tag
        rows = rows.filter(request_tags__tag=str(given["tag"]).strip())
    if "score" in given:  # thumbs, thumbs=down, quality<0.5 (gateway.telemetry.scores)
        from gateway.telemetry.scores import log_filter

        try:
            rows = rows.filter(log_filter(str(given["score"])))
        except ValueError as exc:
            raise InvalidFilter("score", str(exc)) from None
    text = str(given.get("q", "")).strip()
    if text:
        bodies = searches_bodies()
        found = search_filter(text, bodies)
        if bodies and among:
            found |= Q(pk__in=parts_holding(text, list(among), rows.db))
        rows = rows.filter(found)
    return rows


def matching_ids(
    params: Mapping[str, Any],
    limit: int,
    scope: Callable[[QuerySet[RequestLog]], QuerySet[RequestLog]] | None = None,
) -> list[int]:
    """The ids of up to ``limit`` rows ``params`` selects (newest first), a text search
    paged through ``search_page`` (so it reads body parts as the list does)."""
    if not str(params.get("q") or "").strip():
        rows = filtered(params)
        rows = scope(rows) if scope is not None else rows
        return list(rows.values_list("id", flat=True)[:limit])
    ids: list[int] = []
    cursor = None
    while len(ids) < limit:
        found = search_page(params, cursor, min(MAX_PAGE_SIZE, limit - len(ids)), scope)
        ids += [row.pk for row in found.rows]
        cursor = found.next_cursor
        if cursor is None:
            break
    return ids


# --- cursor and pages -------------------------------------------------------------------


def encode_cursor(row: RequestLog) -> str:
    """``<created_at in epoch microseconds>_<id>`` (the API's format since it had one),
    in integer arithmetic: rows sharing the cursor row's instant must be neither skipped
    nor repeated."""
    return cursor_at(row.created_at, row.pk)


def cursor_at(moment: datetime, row_id: int) -> str:
    return f"{(moment - EPOCH) // MICROSECOND}_{row_id}"


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        micros, row = cursor.split("_")
        number = row_id(row)
        if number is None:
            raise ValueError(row)
        return EPOCH + timedelta(microseconds=int(micros)), number
    except (ValueError, OverflowError):
        raise InvalidFilter("cursor", "not a cursor returned by a log page") from None


def after(rows: QuerySet[RequestLog], cursor: str) -> QuerySet[RequestLog]:
    """``rows`` past ``cursor`` in (created_at, id) order, newest first."""
    moment, row_id = decode_cursor(cursor)
    # The first bound lets the database seek the index; the second settles the rows
    # that share the cursor row's instant.
    return rows.filter(created_at__lte=moment).filter(Q(created_at__lt=moment) | Q(id__lt=row_id))


@dataclass(slots=True)
class Page:
    rows: list[RequestLog]
    next_cursor: str | None
    # Set when a search page stopped at its scan budget: the instant it searched back to.
    searched_to: datetime | None = None


def page(rows: QuerySet[RequestLog], cursor: str | None = None, size: int = PAGE_SIZE) -> Page:
    """One page of ``rows`` starting after ``cursor`` (the first page without one)."""
    size = max(1, min(size, MAX_PAGE_SIZE))
    if cursor:
        rows = after(rows, cursor)
    found = list(rows[: size + 1])
    more = len(found) > size
    found = found[:size]
    return Page(found, encode_cursor(found[-1]) if more else None)


def search_page(
    params: Mapping[str, Any],
    cursor: str | None = None,
    size: int = PAGE_SIZE,
    scope: Callable[[QuerySet[RequestLog]], QuerySet[RequestLog]] | None = None,
) -> Page:
    """One page of ``filtered(params)`` after ``cursor``, reading at most
    ``SEARCH_SCAN_ROWS`` rows for a text search (``q``; ``BODY_SEARCH_SCAN_ROWS`` when
    it reads bodies too); the list pages of both surfaces come from here. ``scope``
    narrows the rows to what the caller may see (gateway/access/roles.visible_logs)."""
    text = str(params.get("q") or "").strip()
    rows = filtered({k: v for k, v in params.items() if k != "q"})
    if scope is not None:
        rows = scope(rows)
    if not text:
        return page(rows, cursor, size)
    size = max(1, min(size, MAX_PAGE_SIZE))
    if cursor:
        rows = after(rows, cursor)
    bodies = searches_bodies()
    scan = min(SEARCH_SCAN_ROWS, BODY_SEARCH_SCAN_ROWS) if bodies else SEARCH_SCAN_ROWS
    # The last row of the stretch this page searches (an index range, read in order),
    # and whether any row lies beyond it.
    ends = list(rows.values_list("created_at", "id")[scan - 1 : scan + 1])
    edge = ends[0] if ends else None
    found_in = search_filter(text, bodies)
    if bodies:  # the stretch's bodies stored as parts (see the module docstring)
        stretch = list(rows.values_list("id", flat=True)[:scan])
        held = parts_holding(text, stretch, rows.db)
        if held:
            found_in |= Q(pk__in=held)
    matching = rows.filter(found_in)
    if edge is not None:
        moment, row_id = edge
        matching = matching.filter(created_at__gte=moment).filter(
            Q(created_at__gt=moment) | Q(id__gte=row_id)
        )
    found = list(matching[: size + 1])
    if len(found) > size:
        return Page(found[:size], encode_cursor(found[size - 1]))
    if len(ends) > 1 and edge is not None:  # (never None then: edge is ends[0])
        return Page(found, cursor_at(*edge), searched_to=edge[0])
    return Page(found, None)
