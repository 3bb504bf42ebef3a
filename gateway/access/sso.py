"""Single sign-on with OpenID Connect: which identity provider, and what its claims make
of a user.

The protocol itself (discovery document, authorization code with PKCE, ``state`` and
``nonce``, the ID token's signature checked against the provider's JWKS, its issuer,
audience and expiry) is Authlib's; this module says how it is configured and turns the
verified claims into a console user:

- ``SWITCHYARD_OIDC_ISSUER``: the provider's issuer URL (its discovery document is
  ``<issuer>/.well-known/openid-configuration``); unset, single sign-on is off.
- ``SWITCHYARD_OIDC_CLIENT_ID`` and ``SWITCHYARD_OIDC_CLIENT_SECRET`` (either may be an
  ``os.environ/NAME`` reference), ``SWITCHYARD_OIDC_SCOPES`` (default ``openid email
  profile``), ``SWITCHYARD_OIDC_LABEL`` (the login page's button).
- Roles: ``SWITCHYARD_OIDC_ROLE_CLAIM`` (default ``groups``) and
  ``SWITCHYARD_OIDC_ROLE_MAP`` (``llm-admins=admin,llm-owners=owner``): the highest
  role any claim value maps to; ``SWITCHYARD_OIDC_DEFAULT_ROLE`` (default ``member``)
  when none does, ``none`` to refuse those users.
- Teams: ``SWITCHYARD_OIDC_TEAM_CLAIM`` (default ``groups``) and
  ``SWITCHYARD_OIDC_TEAM_MAP`` (``team-red=Red,team-blue=Blue``).
- ``SWITCHYARD_SSO_ONLY``: password sign-in is refused except for the accounts named in
  ``SWITCHYARD_SSO_BREAK_GLASS`` (comma-separated usernames), which keep it for when the
  provider is down or misconfigured.

Claims come only from an ID token Authlib verified or from the issuer's userinfo
endpoint (``gateway.access.sso_users.verified_claims``), never from the token
response's body. The username is normalised (NFKC) and checked
(``gateway.access.usernames``); a new one that looks like an existing user's is refused.

A user signing in for the first time is created; the link between the provider's
``(issuer, sub)`` and the user is kept (``SsoLink``), so a provider account never
signs in as a local account that merely has the same name. Removing that user is
remembered by the same pair (``SsoRemoval``): the next sign-in is refused, not a new
account, until an owner lets the identity in again."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from gateway.access import usernames
from gateway.base.env import env_bool, env_list, env_str
from gateway.base.secrets.secret_refs import resolve_operator_value

# From the most to the least that a role may do (see the roles of issue #29).
ROLES = ("owner", "admin", "editor", "member", "viewer")


@dataclass(frozen=True)
class SsoConfig:
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: str = "openid email profile"
    label: str = "Sign in with SSO"
    role_claim: str = "groups"
    role_map: Mapping[str, str] = field(default_factory=dict)
    default_role: str | None = "member"
    team_claim: str = "groups"
    team_map: Mapping[str, str] = field(default_factory=dict)

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


@dataclass(frozen=True)
class SsoIdentity:
    """What the verified claims say about the person signing in."""

    issuer: str
    subject: str
    username: str
    email: str
    name: str
    role: str
    teams: tuple[str, ...]


class SsoRefused(Exception):
    """The provider vouched for the person, but this gateway does not let them in."""


def _pairs(name: str) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in env_list(name):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ImproperlyConfigured(f"{name} takes claim=value pairs, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def load_config() -> SsoConfig | None:
    """The configured provider, or None when single sign-on is off. A half-done
    configuration is an ``ImproperlyConfigured`` naming the missing variable."""
    issuer = env_str("SWITCHYARD_OIDC_ISSUER").strip()
    if not issuer:
        return None
    client_id = env_str("SWITCHYARD_OIDC_CLIENT_ID").strip()
    if not client_id:
        raise ImproperlyConfigured("SWITCHYARD_OIDC_ISSUER is set: SWITCHYARD_OIDC_CLIENT_ID too")
    role_map = _pairs("SWITCHYARD_OIDC_ROLE_MAP")
    for claim, role in role_map.items():
        if role not in ROLES:
            raise ImproperlyConfigured(
                f"SWITCHYARD_OIDC_ROLE_MAP maps {claim!r} to {role!r}: roles are {', '.join(ROLES)}"
            )
    default_role: str | None = env_str("SWITCHYARD_OIDC_DEFAULT_ROLE", "member").strip()
    if default_role == "none":
        default_role = None
    elif default_role not in ROLES:
        raise ImproperlyConfigured(
            f"SWITCHYARD_OIDC_DEFAULT_ROLE is {default_role!r}: one of {', '.join(ROLES)} or none"
        )
    host = issuer.split("//", 1)[-1].split("/", 1)[0]
    return SsoConfig(
        issuer=issuer,
        client_id=resolve_operator_value(client_id),
        client_secret=resolve_operator_value(env_str("SWITCHYARD_OIDC_CLIENT_SECRET").strip()),
        scopes=env_str("SWITCHYARD_OIDC_SCOPES", "openid email profile").strip()
        or "openid email profile",
        label=env_str("SWITCHYARD_OIDC_LABEL").strip() or f"Sign in with {host}",
        role_claim=env_str("SWITCHYARD_OIDC_ROLE_CLAIM", "groups").strip() or "groups",
        role_map=role_map,
        default_role=default_role,
        team_claim=env_str("SWITCHYARD_OIDC_TEAM_CLAIM", "groups").strip() or "groups",
        team_map=_pairs("SWITCHYARD_OIDC_TEAM_MAP"),
    )


@functools.cache
def config() -> SsoConfig | None:
    """The configuration, read once per process (it comes from the environment)."""
    return load_config()


def config_or_error() -> tuple[SsoConfig | None, str]:
    """The configuration, or None and why it is unusable: a misconfigured sign-on is a
    message on the login page (passwords keep working), never a 500."""
    try:
        return config(), ""
    except ImproperlyConfigured as exc:
        return None, f"Single sign-on is misconfigured: {exc}"


def sso_only() -> bool:
    """Password sign-in off (but for the break-glass accounts); never while sign-on
    itself is off or misconfigured, so nobody is locked out by a typo."""
    return env_bool("SWITCHYARD_SSO_ONLY") and config_or_error()[0] is not None


def break_glass_accounts() -> set[str]:
    return {name.strip() for name in env_list("SWITCHYARD_SSO_BREAK_GLASS") if name.strip()}


def password_sign_in_allowed(username: str | None) -> bool:
    """With ``SWITCHYARD_SSO_ONLY``, only the break-glass accounts use a password."""
    return not sso_only() or (username or "") in break_glass_accounts()


def _values(claims: Mapping[str, Any], name: str) -> list[str]:
    value = claims.get(name)
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, Iterable):
        return [str(item) for item in value]
    return [str(value)]


def identity_from_claims(claims: Mapping[str, Any], cfg: SsoConfig) -> SsoIdentity:
    """The verified ID token's (and userinfo's) claims as a console identity: the
    highest role any role-claim value maps to, the teams the team-claim values map to."""
    subject = str(claims.get("sub") or "")
    if not subject:
        raise SsoRefused("the identity provider sent no subject (sub) for this account")
    roles = {cfg.role_map[v] for v in _values(claims, cfg.role_claim) if v in cfg.role_map}
    role = next((r for r in ROLES if r in roles), cfg.default_role)
    if role is None:
        raise SsoRefused("this account has no role on this gateway: ask an owner for one")
    teams = tuple(
        dict.fromkeys(cfg.team_map[v] for v in _values(claims, cfg.team_claim) if v in cfg.team_map)
    )
    email = str(claims.get("email") or "")
    username = usernames.normalise(
        str(claims.get("preferred_username") or email.split("@")[0] or subject)
    )
    if why := usernames.problem(username):
        raise SsoRefused(why)
    return SsoIdentity(
        issuer=cfg.issuer,
        subject=subject,
        username=username,
        email=email,
        name=str(claims.get("name") or ""),
        role=role,
        teams=teams,
    )
