"""Secrets out of what the journal stores and what leaves the process (trace spans,
MCP error messages): defence in depth (the service never puts headers into records).
Configured secrets are replaced literally; key-looking tokens by a regex that runs only
when a cheap substring search says it could match.

Pure text work over the registry's secrets, in ``telemetry`` so that tracing (here) and
the journal and MCP (above) share it."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from django.conf import settings

from gateway.access import registry
from gateway.base import hooks, marker_scan
from gateway.base.secrets.provider_credentials import deployment_params, of_provider
from gateway.base.secrets.url_secrets import mask_urls_in, url_credentials
from gateway.telemetry import caller_credentials
from gateway.telemetry.caller_credentials import may_hold_credentials, redact_caller_credentials

REDACTED = "[redacted]"

_SECRET_PATTERNS = re.compile(
    r"(?i:bearer)\s+[A-Za-z0-9._~+/=-]{8,}"  # an Authorization header value
    r"|(?i:\"(?:authorization|x-api-key|api-key)\"\s*:\s*)\"[^\"]*\""  # a header in JSON
    r"|\bsy-[A-Za-z0-9_-]{16,}"  # Switchyard virtual and master keys
    r"|\bsk-[A-Za-z0-9_-]{16,}"  # OpenAI / Anthropic style provider keys
)
# (Every match starts where _PATTERN_STARTS says: a change to one changes the other.)
# Every match of _SECRET_PATTERNS contains one of these in ``text.lower()`` (the
# (?i:...) parts) or one of the key prefixes in ``text`` itself (the case-sensitive
# parts): a few searches at C speed decide whether the regex (slow over 10 KB) has to
# run. The prefixes are one regex (one pass, where two ``in`` tests take three times as
# long over an SSE body: "s" and "-" are everywhere in JSON).
_CASELESS_MARKERS = ("bearer", "authorization", "api-key")
_KEY_PREFIXES = re.compile("sy-|sk-")
# The characters other than ASCII letters and what ``str.lower()`` maps onto them that the
# regex's case-insensitive parts match (dotted and dotless I): text holding one runs it.
_CASE_FOLD_ODDITIES = ("\u0130", "\u0131")
# Every character outside ASCII the case-insensitive parts match (the two above and the
# KELVIN SIGN, which lower() maps to "k"): one scan of a long text matches the markers'
# ASCII cases only, so a text holding one of these is searched the slower way.
_FOLDING_NON_ASCII = (*_CASE_FOLD_ODDITIES, "\u212a")
# From this length ``redact`` searches a text for all markers in one pass (marker_scan):
# the scan's own cost (about 2.5 us) is what the searches take over some 500 characters,
# and they take 3 us a KB more (a mid-size body: 8 KB searched in 35 us, scanned in 6).
SCAN_FROM = 512
# From this length ``untouched`` asks the marker scan (its searches are fewer: from 1 KB).
UNTOUCHED_SCAN_FROM = 1024
# From this length ``redact_noting`` says whether its scan found nothing (a clean text):
# the journal splices and splits only texts this long as clean (``journal.rows``), and
# joins shorter bodies to search them at once. Its own threshold, not ``SCAN_FROM``:
# which texts take those paths does not move with what makes a scan pay.
CLEAN_FROM = 16 * 1024
_PATTERN_MARKERS = frozenset(("bearer", "authorization", "api-key", "sy-", "sk-"))


def configured_secrets() -> list[str]:
    """The literal secrets this process knows: the master key, every credential of
    every provider (secret, extra header values, base URL user info and query secrets,
    credential-named settings and deployment params: ``base.secrets.provider_credentials``) and
    MCP servers' tokens, header and env values and URL credentials (``os.environ/NAME``
    references resolved), longest first."""

    found = {settings.SWITCHYARD_MASTER_KEY}
    for secrets_of in hooks.operator_secrets:  # the bills' admin keys (gateway.features.billing)
        found.update(secrets_of())
    snapshot = registry.current()
    for provider in snapshot.providers.values():
        found.update(of_provider(provider, deployment_params(provider)))
    for server in snapshot.mcp_servers.values():  # MCP tokens, header and env values
        for value in (server.bearer, *(v for _, v in server.headers), *(v for _, v in server.env)):
            if value.startswith("os.environ/"):
                value = os.environ.get(value.removeprefix("os.environ/"), "")
            found.add(value)
        found.update(url_credentials(server.url or ""))
    return sorted((s for s in found if s and len(s) >= 8), key=len, reverse=True)


def may_match_secret_pattern(text: str) -> bool:
    """False only when ``_SECRET_PATTERNS`` certainly finds nothing in ``text``."""
    if _KEY_PREFIXES.search(text) is not None:
        return True
    low = text.lower()
    for marker in _CASELESS_MARKERS:
        if marker in low:
            return True
    return not text.isascii() and any(odd in text for odd in _CASE_FOLD_ODDITIES)


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every configured secret and every key-looking token replaced."""
    return redact_noting(text, secrets)[0]


def redact_noting(text: str, secrets: Iterable[str]) -> tuple[str, bool]:
    """``redact``, and whether its scan found nothing it looks for in ``text`` (which is
    then ``text`` itself: see ``holds_nothing``). Always False for a text shorter than
    ``CLEAN_FROM`` (and one shorter than ``SCAN_FROM`` is searched without a scan)."""
    if len(text) >= SCAN_FROM:
        secrets = tuple(secrets)
        found = _markers_in(text, secrets)
        if found is not None:
            return _redact_holding(text, secrets, found), not found and len(text) >= CLEAN_FROM
    return _redact_searching(text, secrets), False


def holds_nothing(text: str, secrets: tuple[str, ...]) -> bool:
    """True only when one scan of ``text`` finds none of the secrets and markers
    ``redact`` looks for, so that ``redact`` leaves it as it is: every replacement it
    makes starts at one of them (a secret, a key prefix, a caseless marker, a caller's
    credential field). False when the scan cannot tell."""
    found = _markers_in(text, secrets)
    return found is not None and not found


def untouched(text: str, secrets: Iterable[str]) -> bool:
    """True only when ``redact`` leaves ``text`` as it is, by ``str`` searches (no scan,
    at any length): it holds no secret, none of the caller credential fields, nothing
    the key patterns could match. Every test looks for a substring, so what holds for a
    text holds for each part of it: one call over texts joined answers for each of them
    (``journal.rows``: a record's four short bodies, one search where there were four
    of each kind). From ``UNTOUCHED_SCAN_FROM`` characters one marker scan answers when
    it can (about 2.5 us over 4 KB, where the searches took 12)."""
    if len(text) >= UNTOUCHED_SCAN_FROM:
        found = _markers_in(text, tuple(secrets))
        if found is not None:
            return not found
    for secret in secrets:
        if secret in text:
            return False
    return not may_hold_credentials(text) and not may_match_secret_pattern(text)


def marker_reach(secrets: tuple[str, ...]) -> int:
    """The length of the longest secret or marker ``holds_nothing`` looks for: a text
    joined from two that hold nothing holds nothing if the characters this far either
    side of the join do not."""
    return max(map(len, (*secrets, *_MARKERS)))


def _redact_searching(text: str, secrets: Iterable[str]) -> str:
    """``redact`` without the scan: each secret and marker searched for in turn."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    text = redact_caller_credentials(text)
    if not may_match_secret_pattern(text):
        return text
    return _patterns_replaced(text)


def _markers_in(text: str, secrets: tuple[str, ...]) -> frozenset[str] | None:
    """Which secrets and markers a long text holds, from one scan; None when it could
    not tell (no Hyperscan here, or a character only Unicode case folding matches)."""
    scan = marker_scan.scanner((*secrets, *_EXACT_MARKERS), _CASELESS_MARKERS)
    found = scan.found(text) if scan is not None else None
    if found is None or any(odd in found for odd in _FOLDING_NON_ASCII):
        return None
    return found


_PREFIX_MARKERS = ("sy-", "sk-")  # what _KEY_PREFIXES finds
_EXACT_MARKERS = (*_PREFIX_MARKERS, *caller_credentials.MARKERS, *_FOLDING_NON_ASCII)
_MARKERS = (*_EXACT_MARKERS, *_CASELESS_MARKERS)


def _redact_holding(text: str, secrets: tuple[str, ...], found: frozenset[str]) -> str:
    """``redact`` of a text known to hold ``found`` (and nothing else it looks for). A
    credential's URL put back together (``mask_url``) has its scheme lowered: "SK-..."
    becomes a key prefix the text did not hold, so the prefixes are looked for again."""
    for secret in secrets:
        if secret in found:
            text = text.replace(secret, REDACTED)
    masked = redact_caller_credentials(text, found)
    if caller_credentials.MARKERS[2] in found and masked is not text and masked != text:
        found = found.union(_PREFIX_MARKERS)  # (a URL masked: the rest put in "[redacted]")
    if found.isdisjoint(_PATTERN_MARKERS):
        return masked
    return _patterns_replaced(masked, found)


# Where a match of _SECRET_PATTERNS can start: at each of these markers (caseless ones
# found in ``text.lower()``, the key prefixes in ``text``), so many characters before it
# (a JSON header's quote; "x-api-key" holds "api-key" three after its quote). The
# case-insensitive parts match no character outside ASCII but _FOLDING_NON_ASCII, and
# lower() keeps the length of every text without them.
_PATTERN_STARTS = {
    "bearer": (0,),
    "authorization": (1,),
    "api-key": (1, 3),
    "sy-": (0,),
    "sk-": (0,),
}


def _patterns_replaced(text: str, markers: frozenset[str] = _PATTERN_MARKERS) -> str:
    """``_SECRET_PATTERNS.sub(_redacted_match, text)``, the regex tried only where a match
    can start, at the ``markers`` the text holds (all, unless a scan said which), where
    ``sub`` tries every position (about 50 us a KB: its case-insensitive alternatives
    give ``re`` no first character to skip by). Matches are tried left to right from the
    end of the last, as ``sub`` does, so the text out is the same."""
    if not text.isascii() and any(odd in text for odd in _FOLDING_NON_ASCII):
        return _SECRET_PATTERNS.sub(_redacted_match, text)
    pieces: list[str] = []
    end = 0
    for start in _pattern_starts(text, markers):
        if start >= end and (match := _SECRET_PATTERNS.match(text, start)) is not None:
            pieces += (text[end:start], _redacted_match(match))
            end = match.end()
    return "".join((*pieces, text[end:])) if pieces else text


def _pattern_starts(text: str, markers: frozenset[str]) -> list[int]:
    """Every place in ``text`` where a match of _SECRET_PATTERNS at one of ``markers``
    could start, in order (some where none does)."""
    low = text if markers.isdisjoint(_CASELESS_MARKERS) else text.lower()
    starts: set[int] = set()
    for marker, backs in _PATTERN_STARTS.items():
        if marker in markers:
            places = _places(text if marker in _PREFIX_MARKERS else low, marker)
            starts.update(at - back for at in places for back in backs)
    return sorted(starts)


def _places(text: str, marker: str) -> list[int]:
    """Where each ``marker`` starts in ``text``: from 2 KB in one vectorised pass
    (``marker_scan.marker_starts``: about 1 us and 0.2 a KB where ``str.find`` takes
    0.7 a KB), else (a shorter text, or not ASCII) found in turn."""
    places = marker_scan.marker_starts(text, marker) if len(text) >= 2048 else None
    if places is None:
        places = []
        at = text.find(marker)
        while at >= 0:
            places.append(at)
            at = text.find(marker, at + 1)
    return places


def redact_exported(text: str, secrets: Iterable[str]) -> str:
    """``redact`` for what leaves the process for another system (trace spans): also the
    user info and credential query values of the URLs ``text`` quotes."""
    return redact(mask_urls_in(text), secrets)


def _redacted_match(match: re.Match[str]) -> str:
    value = match.group(0)
    if value.startswith('"'):  # keep the JSON field name, drop its value
        return value[: value.index(":") + 1] + f' "{REDACTED}"'
    if value[:6].lower() == "bearer":
        return "Bearer " + REDACTED
    return REDACTED
