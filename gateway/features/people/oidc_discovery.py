"""The sign-in page's "Test discovery": fetch the configured issuer's
``.well-known/openid-configuration`` and say whether single sign-on could work with it.

The fetch is the gateway's guarded one (``gateway.core.url_fetch``: http(s) only, every
address checked, the connection pinned to it, a size cap and a timeout). The issuer's
own host is trusted, since the operator set it (identity providers often live on a
private network); a redirect to any other host is checked like any fetch, so the button
cannot be turned into a probe of the gateway's network. Only the configured issuer is
ever fetched: the page takes no URL. The answer is checked as Authlib will check it:
the document's ``issuer`` must equal the configured one, and it must name the
authorization, token and key-set endpoints; the claims the maps read should be among
``claims_supported`` when the document lists them. Nothing secret is sent or shown."""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx
import orjson

from gateway.access.sso import SsoConfig
from gateway.core import url_fetch

REQUIRED = ("authorization_endpoint", "token_endpoint", "jwks_uri")
SHOWN = (*REQUIRED, "userinfo_endpoint", "end_session_endpoint")
ACCEPT = frozenset({"application/json"})
MAX_BYTES = 512 * 1024


@dataclass(frozen=True)
class DiscoveryResult:
    ok: bool
    url: str
    problems: tuple[str, ...] = ()
    endpoints: dict[str, str] = field(default_factory=dict)
    scopes_supported: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _failed(url: str, problem: str) -> DiscoveryResult:
    return DiscoveryResult(ok=False, url=url, problems=(problem,))


async def check(cfg: SsoConfig) -> DiscoveryResult:
    url = cfg.discovery_url
    host = httpx.URL(cfg.issuer).host if cfg.issuer.startswith(("http://", "https://")) else ""
    try:
        fetched = await url_fetch.fetch(url, ACCEPT, trusted_hosts=[host] if host else [])
    except url_fetch.FetchRefused as exc:
        return _failed(url, f"could not fetch the discovery document: {exc}")
    if len(fetched.data) > MAX_BYTES:
        return _failed(url, f"the discovery document is larger than {MAX_BYTES // 1024} KiB")
    try:
        document = orjson.loads(fetched.data)
    except orjson.JSONDecodeError:
        return _failed(url, "the discovery document is not JSON")
    if not isinstance(document, dict):
        return _failed(url, "the discovery document is not a JSON object")
    problems = []
    if document.get("issuer") != cfg.issuer:
        problems.append(
            f"its issuer is {document.get('issuer')!r}, not the configured {cfg.issuer!r}: "
            "sign-in would fail the ID token's issuer check (set SWITCHYARD_OIDC_ISSUER to "
            "the document's value)"
        )
    missing = [name for name in REQUIRED if not isinstance(document.get(name), str)]
    if missing:
        problems.append(f"it names no {', '.join(missing)}")
    notes = []
    claims = document.get("claims_supported")
    if isinstance(claims, list):
        for claim in dict.fromkeys((cfg.role_claim, cfg.team_claim)):
            if claim not in claims:
                notes.append(
                    f"the claim {claim!r} the maps read is not in claims_supported "
                    "(some providers send it anyway; check a sign-in)"
                )
    scopes = document.get("scopes_supported")
    if isinstance(scopes, list):
        unknown = [s for s in cfg.scopes.split() if s not in scopes]
        if unknown:
            notes.append(f"scopes not in scopes_supported: {', '.join(unknown)}")
    return DiscoveryResult(
        ok=not problems,
        url=url,
        problems=tuple(problems),
        endpoints={n: str(document[n]) for n in SHOWN if isinstance(document.get(n), str)},
        scopes_supported=tuple(str(s) for s in scopes) if isinstance(scopes, list) else (),
        notes=tuple(notes),
    )
