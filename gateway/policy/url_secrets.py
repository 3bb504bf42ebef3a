"""Credentials in URLs, masked for showing and exporting: a base URL may carry
``user:SECRET@`` or ``?api-key=SECRET`` (some upstreams take keys that way). The stored
value keeps working; what an admin page, an export, a log line or a trace span shows is
``https://***@host/path?api-key=***&api-version=2024-06-01``."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Query parameters whose values are credentials: names holding one of these words.
_SECRET_WORDS = ("key", "token", "secret", "password", "passwd", "pwd", "sig", "auth", "cred")
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")  # a URL inside some text


def secret_param(name: str) -> bool:
    """Whether a query parameter called ``name`` carries a credential."""
    low = name.lower()
    return any(word in low for word in _SECRET_WORDS)


def mask_url(url: str) -> str:
    """``url`` with its user info and credential-looking query values replaced by
    ``***``; everything else (host, path, other parameters) as it was."""
    if "@" not in url and "=" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(_masked_item(item) for item in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _masked_item(item: str) -> str:
    name, equals, value = item.partition("=")
    return f"{name}={MASK}" if equals and value and secret_param(name) else item


def mask_urls_in(text: str) -> str:
    """``text`` with every URL it quotes masked as ``mask_url`` does."""
    if "://" not in text:
        return text
    return _URL.sub(lambda match: mask_url(match.group(0)), text)
