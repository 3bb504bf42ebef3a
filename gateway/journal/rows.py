"""Records as database rows: RequestLog values (strings cut to their columns, counts
to their ranges) and RequestBody values (bodies as text, redacted, cut with a marker)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import fields
from datetime import UTC, datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from gateway.base import body_parts
from gateway.base.body_parts import Recalled, Split
from gateway.base.derived_bodies import derive
from gateway.journal.record import Attempt, Record, Spliced
from gateway.models.body_blobs import SPLIT_FIELDS
from gateway.telemetry.redaction import (
    CLEAN_FROM,
    holds_nothing,
    marker_reach,
    redact,
    redact_exported,
    redact_noting,
    untouched,
)

REDACTION_MARGIN = 4096  # bytes past the body limit redacted before the cut
TRUNCATION_MARKER = "\n…[truncated by Switchyard: body exceeded {limit} bytes]"
# stored in place of the bodies of a record that gave them up (gateway.journal.background)
SHED_NOTE = (
    "[bodies not kept by Switchyard: the journal's queue reached "
    "SWITCHYARD_JOURNAL_MAX_BYTES faster than the database took it]"
)
MAX_INT = 2**31 - 1


def _raw_bytes(value: Any) -> bytes:
    if value is None:
        return b""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "replace")
    return orjson.dumps(value, default=str)


def body_text(value: Any, limit: int, secrets: Iterable[str] = ()) -> tuple[str, bool]:
    """A body as storable text: utf-8 (invalid bytes replaced), secrets redacted, cut
    to ``limit`` bytes with a visible marker. Returns (text, truncated).

    The service captures at most ``limit`` bytes of what it streams, so a body that
    reaches the limit counts as cut. Redaction happens before the cut (over
    ``REDACTION_MARGIN`` more bytes), so a secret straddling the boundary cannot leave
    half of itself behind."""
    text, truncated, _clean = _body_text(value, limit, secrets)
    return text, truncated


def _body_text(value: Any, limit: int, secrets: Iterable[str]) -> tuple[str, bool, bool]:
    """``body_text``, and whether the text is the body's bytes as they are: valid utf-8
    without a NUL, not cut, and holding nothing redaction looks for (its scan said so)."""
    data = _raw_bytes(value)
    if not data:
        return "", False, False
    truncated = len(data) >= limit
    kept = data[: limit + REDACTION_MARGIN]
    try:
        text, whole = kept.decode("utf-8"), not truncated
    except UnicodeDecodeError:
        text, whole = kept.decode("utf-8", "replace"), False
    if "\x00" in text:
        text, whole = text.replace("\x00", "\ufffd"), False
    text, clean = redact_noting(text, secrets)
    if truncated:
        cut = text.encode("utf-8")[:limit].decode("utf-8", "ignore")
        text = cut + TRUNCATION_MARKER.format(limit=limit)
    return text, truncated, clean and whole


def _spliced_text(
    spliced: Spliced, rec: Record, clean_texts: dict[str, str], limit: int, secrets: tuple[str, ...]
) -> str | None:
    """The text of a ``Spliced`` body (its head, then its neighbour's bytes from ``at``)
    without making it whole and scanning all of it again, when its neighbour's text is
    clean (``_body_text``): the made body is then its head's text and the neighbour's
    text from there, and it holds nothing redaction looks for if the head and the
    ``marker_reach`` characters after it hold nothing (whatever it could find lying in
    the neighbour's text alone is not there). None when this does not hold (the body is
    made and converted as any other)."""
    source_text = clean_texts.get(spliced.source)
    source = getattr(rec, spliced.source)
    if source_text is None or type(source) is not bytes:
        return None
    if len(spliced.head) + len(source) - spliced.at >= limit:
        return None  # (a body cut at the limit)
    try:  # (fails for a join inside a character)
        head = spliced.head.decode("utf-8")
        at = len(source[: spliced.at].decode("utf-8"))
    except UnicodeDecodeError:
        return None
    joined = head + source_text[at : at + marker_reach(secrets)]
    if "\x00" in head or not holds_nothing(joined, secrets):
        return None
    return head + source_text[at:]


def _count(value: int | None) -> int:
    if value.__class__ is int and 0 <= value <= MAX_INT:  # (nearly always: no conversion)
        return value
    return max(0, min(int(value or 0), MAX_INT))


def as_is(value: Any) -> Any:
    return value


# RequestLog columns in the order ``log_values`` produces them (model attribute names);
# ``_log_sql`` checks them against the model, so a model change cannot misalign them.
LOG_COLUMNS = (
    "request_id",
    "created_at",
    "key_id",
    "key_name",
    "key_prefix",
    "dialect",
    "endpoint",
    "route",
    "deployment_id",
    "provider",
    "upstream_model",
    "stream",
    "status",
    "finish_reason",
    "error_kind",
    "error_message",
    "attempts",
    "latency_ms",
    "ttft_ms",
    "upstream_ms",
    "overhead_ms",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "cost_usd",
    "cache_saved_usd",
    "user_agent",
    "from_playground",
    "client_disconnected",
    "cache_hit",
    "prompt_cache_breakpoints",
    "shadow_of",
    "mcp_calls",
    "guardrails",
    "translation",
    "end_user",
    "session",
    "tags",
    "prompt_name",
    "prompt_version",
    "requested_route",
    "cache_similarity",
    "cache_hit_saved_usd",
    "agent_run",
)
BODY_FIELDS = ("inbound_request", "upstream_request", "upstream_response", "outbound_response")
BODY_COLUMNS = ("log_id", *BODY_FIELDS, "truncated", "derived", "parts")
ATTEMPT_FIELDS = tuple(f.name for f in fields(Attempt))
_attempt_values = attrgetter(*ATTEMPT_FIELDS)
_ZERO = Decimal("0")


def log_values(
    rec: Record,
    secrets: Iterable[str],
    adapt_time: Callable[[datetime], Any],
    adapt_json: Callable[[Any], object],
    adapt_flag: Callable[[bool], object] = as_is,
    adapt_money: Callable[[Decimal], object] = as_is,
) -> tuple[tuple[Any, ...], datetime]:
    """(RequestLog values in LOG_COLUMNS order, the creation time): strings cut to their
    column sizes, counts to their ranges; time, JSON, flags and amounts through the
    backend's adapters (``sql.Adapters``)."""
    created = datetime.fromtimestamp(rec.created_at, tz=UTC)
    attempts = [dict(zip(ATTEMPT_FIELDS, _attempt_values(a), strict=True)) for a in rec.attempts]
    message = rec.error_message
    if message:
        message = redact(message, secrets).replace("\x00", "\ufffd")
    values = (
        rec.request_id[:40],
        adapt_time(created),
        rec.key_id,
        rec.key_name[:200],
        rec.key_prefix[:32],
        rec.dialect[:20],
        rec.endpoint[:40],
        rec.route[:200],
        rec.deployment_id,
        rec.provider[:100],
        rec.upstream_model[:200],
        adapt_flag(rec.stream),
        max(0, min(rec.status, 32767)),
        (rec.finish_reason or "")[:30],
        (rec.error_kind or "")[:60],
        message or "",
        adapt_json(attempts),
        rec.latency_ms,
        rec.ttft_ms,
        rec.upstream_ms,
        rec.overhead_ms,
        _count(rec.input_tokens),
        _count(rec.output_tokens),
        _count(rec.cache_read_tokens),
        _count(rec.cache_write_tokens),
        adapt_money(rec.cost_usd or _ZERO),
        adapt_money(rec.cache_saved_usd or _ZERO),
        (rec.user_agent or "")[:300],
        adapt_flag(rec.from_playground),
        adapt_flag(rec.client_disconnected),
        adapt_flag(rec.cache_hit),
        rec.prompt_cache_breakpoints[:300],
        rec.shadow_of[:40] or None,
        adapt_json(_mcp_calls(rec.mcp_calls, secrets)) if rec.mcp_calls else None,
        adapt_json(rec.guardrails) if rec.guardrails else None,
        adapt_json(rec.translation) if rec.translation else None,
        rec.end_user[:200] or None,
        rec.session[:200] or None,
        adapt_json(list(rec.tags)) if rec.tags else None,
        rec.prompt_name[:100] or None,
        rec.prompt_version,
        rec.requested_route[:200] if rec.requested_route not in ("", rec.route) else None,
        rec.cache_similarity,
        None if rec.cache_hit_saved_usd is None else adapt_money(rec.cache_hit_saved_usd),
        rec.agent_run[:40] or None,
    )
    return values, created


def _mcp_calls(calls: list[dict[str, Any]], secrets: Iterable[str]) -> list[dict[str, Any]]:
    """Hosted MCP call notes with their error texts redacted: a failed connection's
    message may quote the server URL with the caller's token in it."""
    return [
        {**call, "error": redact_exported(call["error"], secrets)}
        if isinstance(call.get("error"), str) and call["error"]
        else call
        for call in calls
    ]


def body_values(
    rec: Record,
    limit: int,
    secrets: Iterable[str] = (),
    adapt_flag: Callable[[bool], object] = as_is,
    parts: Callable[[Split], None] | None = None,
) -> tuple[Any, ...] | None:
    """RequestBody values after the log id (BODY_FIELDS, then truncated, derived and
    parts), or None when ``rec`` carries no body at all. A body equal to an earlier one
    of the same record (a passed-through response) is converted once; an upstream body
    that is its neighbour with the model renamed is stored as that recipe
    (``derived_bodies``). With ``parts``, each request body left is split into its
    envelope, stored here, and parts stored once, handed to ``parts``
    (``gateway.base.body_parts``; ``journal.blobs`` writes them). A record that gave its
    bodies up has ``SHED_NOTE`` for its request body, marked cut."""
    if rec.bodies_shed:
        return (SHED_NOTE, "", "", "", adapt_flag(True), None, None)
    secrets = tuple(secrets)
    recalls: dict[str, Recalled] | None = {} if parts is not None else None
    texts, truncated, clean_texts = _texts(rec, limit, secrets, recalls)
    if not any(texts):
        return None
    derived = split = None
    if not truncated:  # (a cut body may have lost what its recipe would rename)
        bodies = dict(zip(BODY_FIELDS, texts, strict=True))
        derived = derive(bodies)
        if parts is not None and recalls is not None:
            split = _split(bodies, parts, _Splitting(recalls, clean_texts, secrets))
        if derived is not None or split is not None:
            texts = [bodies[name] for name in BODY_FIELDS]
    return (*texts, adapt_flag(truncated), derived, split)


def _texts(
    rec: Record, limit: int, secrets: tuple[str, ...], recalls: dict[str, Recalled] | None
) -> tuple[list[str], bool, dict[str, str]]:
    """Each body's text (``body_text``), whether any was cut, and the texts that are
    their bodies' bytes as they came (clean: nothing redacted, ``_body_text``). With
    ``recalls`` (bodies to be split), a long request body's ``body_parts.recall`` is made
    here and kept: what it shares with a clean text split before is not scanned again
    (``_clean_past``)."""
    short = _short_texts(rec, limit, secrets)
    if short is not None:
        return short, False, {}
    texts: list[str] = []
    done: list[tuple[Any, str]] = []
    clean_texts: dict[str, str] = {}
    truncated = False
    for name in BODY_FIELDS:
        value = getattr(rec, name)
        text = None
        if type(value) is Spliced:  # (queued as the rest of its neighbour)
            text = _spliced_text(value, rec, clean_texts, limit, secrets)
            if text is None:
                value = value.made(rec)
        elif recalls is not None and name in SPLIT_FIELDS and type(value) is bytes:
            text = _clean_past(value, name, recalls, limit, secrets)
        if text is not None:
            clean_texts[name] = text
        else:
            text = _converted_already(value, done)
        if text is None:
            text, cut, clean = _body_text(value, limit, secrets)
            truncated = truncated or cut
            done.append((value, text))
            if clean:
                clean_texts[name] = text
        texts.append(text)
    return texts, truncated, clean_texts


_bodies_of = attrgetter(*BODY_FIELDS)


def _short_texts(rec: Record, limit: int, secrets: tuple[str, ...]) -> list[str] | None:
    """The bodies' texts (``_texts``) made at once when each body is bytes (or None)
    shorter than the limit and than ``CLEAN_FROM`` (a short question's four): when their
    bytes joined by NULs are valid utf-8 holding no other NUL and nothing redaction
    changes (``redaction.untouched``, true of each part of a text it is true of), each
    text is its bytes decoded, as ``_body_text`` makes it (not cut, nothing replaced,
    none scanned: none clean); one decode and one search of each kind for the record
    where each body took its own. None otherwise: each body is converted on its own."""
    bodies = _bodies_of(rec)
    cap = min(limit, CLEAN_FROM)
    for body in bodies:
        if body is not None and (body.__class__ is not bytes or len(body) >= cap):
            return None
    try:
        joined = b"\x00".join([body or b"" for body in bodies]).decode("utf-8")
    except UnicodeDecodeError:
        return None
    texts = joined.split("\x00")
    if len(texts) != len(bodies) or not untouched(joined, secrets):
        return None  # (a NUL of a body's own, or something to redact)
    return texts


def _clean_past(
    data: bytes, name: str, recalls: dict[str, Recalled], limit: int, secrets: tuple[str, ...]
) -> str | None:
    """The text of a request body whose first bytes are those of a clean text split
    before with these ``secrets`` (an agent's next turn), when it is clean too: what
    the two share holds nothing redaction looks for, so only the bytes from
    ``marker_reach`` characters before the end of the shared prefix are scanned. None
    otherwise (the body is converted as any other). Its ``recall`` goes to ``recalls``."""
    if len(data) < CLEAN_FROM or len(data) >= limit:
        return None
    recalled = recalls[name] = body_parts.recall(data)
    same = recalled.clean_prefix(secrets)
    if not same:
        return None
    start = max(0, same - 4 * marker_reach(secrets))  # (4: the most bytes a character takes)
    while start and 0x80 <= data[start] < 0xC0:  # (back to a character's first byte)
        start -= 1
    try:
        text, tail = data.decode("utf-8"), data[start:].decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if "\x00" not in tail and holds_nothing(tail, secrets) else None


class _Splitting(NamedTuple):
    """What ``_split`` takes from the bodies' conversion: their ``recall``s, the clean
    texts among them, and the secrets they were checked against."""

    recalls: dict[str, Recalled]
    clean_texts: dict[str, str]
    secrets: tuple[str, ...]


def _split(bodies: dict[str, str], parts: Callable[[Split], None], known: _Splitting) -> str | None:
    """Put each request body's envelope in ``bodies`` in its place, its parts to
    ``parts``; the references (``RequestBody.parts``), or None when none was split. A
    clean text is split as vouched for by its secrets, with its ``recall`` when it is
    its bytes as they came."""
    refs: dict[str, dict[str, Any]] = {}
    for name in SPLIT_FIELDS:
        text = bodies[name]
        clean = known.clean_texts.get(name) is text
        recalled = known.recalls.get(name) if clean else None
        found = body_parts.split(  # (None for "": a derived body)
            text, clean=known.secrets if clean else None, recalled=recalled
        )
        if found is not None:
            bodies[name] = found.envelope
            refs[name] = found.refs
            parts(found)
    return orjson.dumps(refs).decode() if refs else None


def _converted_already(value: Any, done: list[tuple[Any, str]]) -> str | None:
    """The text of ``value`` if it is (or equals, as bytes) a body in ``done``."""
    for seen, text in done:
        if value is seen or (isinstance(value, bytes) and value == seen):
            return text
    return None
