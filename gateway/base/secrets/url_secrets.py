"""Credentials in URLs, masked for showing and exporting: a base URL may carry
``user:SECRET@`` or ``?api-key=SECRET`` (some upstreams take keys that way). The stored
value keeps working; what an admin page, an export, a log line or a trace span shows is
``https://***@host/path?api-key=***&api-version=2024-06-01``."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from urllib.parse import unquote_plus, urlsplit, urlunsplit

MASK = "***"
# Query parameters whose values are credentials: names holding one of these words.
_SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "auth", "cred")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")  # a URL inside some text
# Paths whose next segment is itself a credential: the one-time invitation link
# (console ``/invite/<token>/``). Django logs the path of every 4xx and 5xx it answers
# (``django.request``, ``django.security.csrf``), so a refused password would otherwise
# write a live token to the server log.
CREDENTIAL_PATHS = ("/invite/",)
_CREDENTIAL_PATH = re.compile(
    "(" + "|".join(re.escape(p) for p in CREDENTIAL_PATHS) + r")[^/\s?#'\"<>]+"
)


def secret_param(name: str) -> bool:
    """Whether a query parameter called ``name`` carries a credential."""
    low = name.lower()
    return any(word in low for word in _SECRET_WORDS)


def mask_url(url: str) -> str:
    """``url`` with its user info and credential-looking query values replaced by
    ``***``; everything else (host, path, other parameters) as it was."""
    if "@" not in url and "=" not in url:
        return url
    return masked_url(url, lambda query: "&".join(map(_masked_item, query.split("&"))))


def masked_url(url: str, masked_query: Callable[[str], str]) -> str:
    """``url`` with its user info replaced by ``***`` and its query (when it has one) as
    ``masked_query`` gives it back; ``***`` whole when it cannot be parsed."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = masked_query(parts.query) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _masked_item(item: str) -> str:
    name, equals, value = item.partition("=")
    return f"{name}={MASK}" if equals and value and secret_param(name) else item


def mask_urls_in(text: str) -> str:
    """``text`` with every URL it quotes masked as ``mask_url`` does."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: mask_url(match.group(0)), text)


def url_credentials(url: str) -> list[str]:
    """The credentials ``url`` carries, as they may be echoed back: its user info
    (``user:password`` whole and each half) and its credential query values, each
    as written and percent-decoded. Empty for a URL without any."""
    if "@" not in url and "=" not in url:
        return []
    try:
        parts = urlsplit(url)
    except ValueError:
        return []
    found: list[str] = []
    if "@" in parts.netloc:
        userinfo = parts.netloc.rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        found += [userinfo, user, password]
    for item in parts.query.split("&") if parts.query else ():
        name, equals, value = item.partition("=")
        if equals and value and secret_param(unquote_plus(name)):
            found.append(value)
    return [*found, *(unquote_plus(value) for value in found)]


def mask_paths_in(text: str) -> str:
    """``text`` with the credential segment of every ``CREDENTIAL_PATHS`` path masked
    (``/invite/***/``)."""
    if not any(prefix in text for prefix in CREDENTIAL_PATHS):
        return text
    return _CREDENTIAL_PATH.sub(lambda match: match.group(1) + MASK, text)


class MaskUrlSecrets(logging.Filter):
    """A log handler's (or logger's) filter: every URL a record's message quotes is
    written masked (``mask_urls_in``), whichever library logged it (an HTTP client logs
    the URLs it calls; a caller's MCP server URL may carry a token), and so is the token
    of a credential path (``mask_paths_in``: Django logs the path of a refused request).
    Other records pass as they are."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_paths_in(mask_urls_in(message))
        if masked != message:
            record.msg, record.args = masked, None
        return True
