"""Secrecy is a declared type, never guessed from a name (M18: a guardrail header called
``Cookie`` or ``X-Pass`` was stored and shown in clear because its name missed a
heuristic). Every stored field says what it holds, once, where it is declared: the
store's fields in ``gateway.models.secrecy``, a guardrail kind's params on its ``Kind``
(``gateway.features.guardrails.kinds``). What follows from the type:

==========  =================================  ==========================================
type        at rest / shown / exported          audited
==========  =================================  ==========================================
PLAIN       as given                            as given
SECRET      a literal sealed (``crypto``), an   a fingerprint, shown as ``***``
            ``os.environ/`` reference kept;
            shown as the mask; exported as an
            ``os.environ/`` name (or with
            secrets included)
URL         sealed whole when it has user info  user info and every query value ``***``
            or a query (they are credentials);
            shown with those masked
HEADERS     a mapping: every value is SECRET    every value ``***`` (references shown)
            (names are plain)
DIGEST      a one-way hash of a credential:     ``***``
            never shown, never reversible
PARAMS      a mapping whose members a schema    every sealed member ``***``
            declares (a guardrail's kind); a
            member no schema names is SECRET
==========  =================================  ==========================================

Helpers here only decide and mask: sealing is ``crypto``'s, and each owner applies it
(``gateway.models.guardrails.seal_params``)."""

from __future__ import annotations

import enum
from urllib.parse import urlsplit

from gateway.base.secrets.url_secrets import masked_url

MASK = "***"


class Secrecy(enum.Enum):
    PLAIN = "plain"
    SECRET = "secret"
    URL = "url"
    HEADERS = "headers"
    DIGEST = "digest"
    PARAMS = "params"


def url_has_secret(url: str) -> bool:
    """Whether ``url`` carries user info or a query (a URL-typed value to seal)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return True  # unparsable: kept sealed, as a secret would be
    return "@" in parts.netloc or bool(parts.query)


def mask_url_secrets(url: str) -> str:
    """``url`` with its user info and *every* query value replaced by ``***`` (the URL
    type: no name decides which parameter is a key)."""
    return masked_url(url, _masked_query)


def _masked_query(query: str) -> str:
    return "&".join(
        f"{name}={MASK}" if equals else name
        for name, equals, _ in (item.partition("=") for item in query.split("&") if item)
    )
