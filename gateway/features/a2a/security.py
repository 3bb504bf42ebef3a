"""What an agent card asks of its callers, read as the auth the gateway can give it: the
card's ``securitySchemes`` and the requirements naming them (A2A 1.0's
``securityRequirements``, 0.3's ``security``; with neither, any one scheme), each
alternative either served (no auth, the operator's bearer token, or each caller's own
OAuth token) or not (mutual TLS, HTTP basic, an API key in a header of its own, OAuth
without the authorization-code flow). ``read`` gives the suggestion a form and the API
prefill (the kind, and an OAuth scheme's authorization and token URLs, issuer and
scopes), or why no alternative can be served (what a save refuses, naming the card's
field). No I/O.

1.0 spells a scheme as a one-key object (``{"oauth2SecurityScheme": {...}}``), 0.3 with
a ``type`` (``{"type": "oauth2", ...}``); both are read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

V1_TYPES = {
    "httpAuthSecurityScheme": "http",
    "oauth2SecurityScheme": "oauth2",
    "apiKeySecurityScheme": "apiKey",
    "openIdConnectSecurityScheme": "openIdConnect",
    "mtlsSecurityScheme": "mutualTLS",
}
METADATA_SUFFIXES = ("/.well-known/oauth-authorization-server", "/.well-known/openid-configuration")


@dataclass(frozen=True, slots=True)
class Scheme:
    """One of the card's schemes: ``kind`` the auth that serves it ("bearer", "oauth"),
    or '' with ``why`` the gateway cannot."""

    name: str
    label: str
    kind: str = ""
    why: str = ""
    authorization_url: str = ""
    token_url: str = ""
    issuer: str = ""
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class CardAuth:
    """The card's auth as the gateway reads it: ``kind`` to suggest ('' none), the OAuth
    details of the scheme suggested, and ``refused``: why none of the card's
    alternatives can be served ('' when one can)."""

    kind: str = ""
    authorization_url: str = ""
    token_url: str = ""
    issuer: str = ""
    scopes: str = ""
    refused: str = ""
    schemes: tuple[Scheme, ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _issuer(metadata_url: str, fallback: str) -> str:
    """The authorization server's issuer: from its metadata URL (RFC 8414's, or
    OpenID's), else the origin of ``fallback`` (its authorization URL)."""
    for suffix in METADATA_SUFFIXES:
        if suffix in metadata_url:  # RFC 8414 puts the issuer's path after the suffix
            head, _, tail = metadata_url.partition(suffix)
            return head + tail.rstrip("/")
    parts = urlsplit(fallback)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def _oauth2(name: str, body: dict[str, Any]) -> Scheme:
    given = body.get("flows")
    flows: dict[str, Any] = given if isinstance(given, dict) else {}
    code = flows.get("authorizationCode")
    if not isinstance(code, dict):
        named = ", ".join(sorted(flows)) or "no flow"
        why = f"per-user OAuth needs the authorization-code flow, and the card offers {named}"
        return Scheme(name, "oauth2", why=why)
    authorize, token = _text(code.get("authorizationUrl")), _text(code.get("tokenUrl"))
    listed = code.get("scopes")
    scopes: dict[str, Any] = listed if isinstance(listed, dict) else {}
    issuer = _issuer(_text(body.get("oauth2MetadataUrl")), authorize)
    return Scheme(name, "oauth2", "oauth", "", authorize, token, issuer, tuple(scopes))


def _scheme(name: str, value: Any) -> Scheme:
    body: dict[str, Any] = value if isinstance(value, dict) else {}
    kind = _text(body.get("type"))
    for key, spelled in V1_TYPES.items():
        if isinstance(body.get(key), dict):
            kind, body = spelled, body[key]
    if kind == "http":
        scheme = _text(body.get("scheme"))
        if scheme.lower() == "bearer":
            return Scheme(name, "HTTP bearer", "bearer")
        why = f"HTTP {scheme or '(no scheme)'} authentication: agents are sent a bearer token only"
        return Scheme(name, f"HTTP {scheme}", why=why)
    if kind == "oauth2":
        return _oauth2(name, body)
    if kind == "openIdConnect":
        url = _text(body.get("openIdConnectUrl"))
        return Scheme(name, "OpenID Connect", "oauth", issuer=_issuer(url, url))
    if kind == "apiKey":
        where = _text(body.get("in")) or _text(body.get("location")) or "header"
        header = _text(body.get("name"))
        if where == "header" and header.lower() == "authorization":
            return Scheme(name, "API key", "bearer")
        why = f"an API key in the {where} {header!r}: agents are sent Authorization: Bearer only"
        return Scheme(name, "API key", why=why)
    if kind == "mutualTLS":
        return Scheme(name, "mutual TLS", why="the gateway presents no client certificate")
    return Scheme(name, kind or "unknown", why="a kind of scheme the gateway does not know")


def _alternatives(card: dict[str, Any], names: list[str]) -> list[dict[str, list[str]]]:
    """Each alternative the card accepts: {scheme name: scopes} (all of them at once)."""
    found: list[dict[str, list[str]]] = []
    for requirement in card.get("securityRequirements") or ():  # 1.0
        schemes = requirement.get("schemes") if isinstance(requirement, dict) else None
        if isinstance(schemes, dict):
            found.append(
                {
                    n: _scopes(v.get("list") if isinstance(v, dict) else v)
                    for n, v in schemes.items()
                }
            )
    for requirement in card.get("security") or ():  # 0.3
        if isinstance(requirement, dict):
            found.append({n: _scopes(v) for n, v in requirement.items()})
    return found or [{n: []} for n in names]


def _scopes(value: Any) -> list[str]:
    return [str(s) for s in value] if isinstance(value, list) else []


def read(card: dict[str, Any]) -> CardAuth:
    """The card's auth: the first alternative the gateway can serve (suggested), or why
    none can."""
    declared = card.get("securitySchemes")
    declared = declared if isinstance(declared, dict) else {}
    schemes = {str(n): _scheme(str(n), v) for n, v in declared.items()}
    if not schemes:
        return CardAuth()
    problems: list[str] = []
    for alternative in _alternatives(card, list(schemes)):
        picked = [
            schemes.get(n) or Scheme(n, "missing", why="not in securitySchemes")
            for n in alternative
        ]
        unserved = [s for s in picked if not s.kind]
        problems += [f"securitySchemes.{s.name} ({s.label}): {s.why}" for s in unserved]
        if unserved:
            continue
        if len(picked) > 1:
            problems.append(
                f"{' and '.join(s.name for s in picked)} at once: one credential is sent"
            )
            continue
        if not picked:
            return CardAuth(schemes=tuple(schemes.values()))
        chosen = picked[0]
        scopes = alternative[chosen.name] or list(chosen.scopes)
        return CardAuth(
            kind=chosen.kind,
            authorization_url=chosen.authorization_url,
            token_url=chosen.token_url,
            issuer=chosen.issuer,
            scopes=" ".join(scopes),
            schemes=tuple(schemes.values()),
        )
    reason = "; ".join(dict.fromkeys(problems))
    return CardAuth(refused=reason, schemes=tuple(schemes.values()))
