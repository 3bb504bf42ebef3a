"""Credentials a caller sends for its own MCP servers, out of journaled bodies.

A request may carry what its MCP servers need: Anthropic's ``mcp_servers[]`` with an
``authorization_token`` and a ``url``, a Responses ``mcp`` tool with ``headers``,
``authorization`` and a ``server_url``. The gateway uses them for the call; the request
log, which viewers read, must not show them. In the stored JSON text: every
``authorization_token`` value, every value of a ``headers`` object (the names stay, so
a reader still sees which headers were sent), and the user info and credential query
values of ``url`` / ``server_url`` values (``base.secrets.url_secrets``). ``authorization``
itself is a header-like field the journal's key patterns already take (``redaction``,
which calls this).

Works on text, not parsed JSON: a body cut at the journal's limit is still redacted up
to where it was cut. Cheap substring checks skip the regexes for bodies without these
fields (the most of them)."""

from __future__ import annotations

import re
from collections.abc import Container

from gateway.base.secrets.url_secrets import mask_url

REDACTED = "[redacted]"

_STRING = r'"(?:[^"\\]|\\.)*"'  # a JSON string, escapes included
_TOKEN = re.compile(r'("authorization_token"\s*:\s*)' + _STRING)
_HEADERS = re.compile(r'("headers"\s*:\s*\{)((?:[^{}"]|' + _STRING + r")*)\}")
_HEADER_VALUE = re.compile(r"(" + _STRING + r"\s*:\s*)" + _STRING)
_URL_VALUE = re.compile(r'("(?:server_)?url"\s*:\s*")((?:[^"\\]|\\.)*)"')


# What a text holds when it holds anything redacted here (MARKERS[2] with "@" or "=").
MARKERS = ('"authorization_token"', '"headers"', 'url"')


def redact_caller_credentials(text: str, markers: Container[str] | None = None) -> str:
    """``text`` (a JSON body, maybe cut short) without the MCP credentials it carries.
    ``markers``: which of ``MARKERS`` the text holds, when the caller knows already
    (``gateway.base.marker_scan``); else they are searched for here."""
    holds = text.__contains__ if markers is None else markers.__contains__
    if holds(MARKERS[0]):
        text = _TOKEN.sub(lambda m: f'{m.group(1)}"{REDACTED}"', text)
    if holds(MARKERS[1]):
        text = _HEADERS.sub(_redacted_headers, text)
    if ("@" in text or "=" in text) and holds(MARKERS[2]):  # the rare characters first
        text = _URL_VALUE.sub(lambda m: f'{m.group(1)}{mask_url(m.group(2))}"', text)
    return text


def may_hold_credentials(text: str) -> bool:
    """False only when ``redact_caller_credentials`` leaves ``text`` as it is (it holds
    none of the fields whose values it takes). A substring test each: false for a text,
    false for every part of it."""
    return (
        MARKERS[0] in text
        or MARKERS[1] in text
        or (("@" in text or "=" in text) and MARKERS[2] in text)
    )


def _redacted_headers(match: re.Match[str]) -> str:
    values = _HEADER_VALUE.sub(lambda m: f'{m.group(1)}"{REDACTED}"', match.group(2))
    return f"{match.group(1)}{values}}}"
