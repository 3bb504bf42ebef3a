"""Single sign-on with OpenID Connect: which identity provider, and what its claims make
of a user.

The protocol itself (discovery document, authorization code with PKCE, ``state`` and
``nonce``, the ID token's signature checked against the provider's JWKS, its issuer,
audience and expiry) is Authlib's; this module says how it is configured and turns the
verified claims into a console user.

Each setting comes from its variable below where that is set, else from what an owner
saved in the console (``SsoSettings``, ``gateway.features.people.sso_settings``): the
environment wins field by field. ``SWITCHYARD_SSO_ONLY`` and the break-glass accounts
are the environment's only.

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
endpoint (``gateway.features.people.sso_users.verified_claims``), never from the token
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
from gateway.base.errors import MissingSecret
from gateway.base.secrets import crypto
from gateway.base.secrets.secret_refs import resolve_operator_value, resolve_secret
from gateway.models import SsoSettings

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


# Each stored field and the variable that wins over it where set (the page shows which).
ENVIRONMENT = {
    "issuer": "SWITCHYARD_OIDC_ISSUER",
    "client_id": "SWITCHYARD_OIDC_CLIENT_ID",
    "client_secret": "SWITCHYARD_OIDC_CLIENT_SECRET",
    "scopes": "SWITCHYARD_OIDC_SCOPES",
    "label": "SWITCHYARD_OIDC_LABEL",
    "role_claim": "SWITCHYARD_OIDC_ROLE_CLAIM",
    "role_map": "SWITCHYARD_OIDC_ROLE_MAP",
    "default_role": "SWITCHYARD_OIDC_DEFAULT_ROLE",
    "team_claim": "SWITCHYARD_OIDC_TEAM_CLAIM",
    "team_map": "SWITCHYARD_OIDC_TEAM_MAP",
}
DEFAULT_SCOPES = "openid email profile"


def parse_pairs(text: str, what: str) -> dict[str, str]:
    """``claim=value,claim=value`` (blanks around items allowed); ``ValueError`` naming
    the first item that is not a pair."""
    pairs: dict[str, str] = {}
    for item in (part.strip() for part in text.replace("\n", ",").split(",")):
        if not item:
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"{what} takes claim=value pairs, got {item!r}")
        pairs[key.strip()] = value.strip()
    return pairs


def check_role_map(role_map: Mapping[str, str]) -> None:
    for claim, role in role_map.items():
        if role not in ROLES:
            raise ValueError(f"maps {claim!r} to {role!r}: roles are {', '.join(ROLES)}")


def check_default_role(value: str) -> str | None:
    """The role of a user no claim value maps (None: refused); "" is ``member``."""
    role = value.strip() or "member"
    if role == "none":
        return None
    if role not in ROLES:
        raise ValueError(f"is {role!r}: one of {', '.join(ROLES)} or none")
    return role


@functools.cache
def environment() -> dict[str, str]:
    """The ``SWITCHYARD_OIDC_*`` variables that are set, by stored field; read once per
    process (the environment does not change under it)."""
    return {f: env_str(name).strip() for f, name in ENVIRONMENT.items() if env_str(name).strip()}


def stored() -> dict[str, Any]:
    """What an owner saved in the console (``SsoSettings``), by field; {} when nothing.
    One row by primary key, read only on the sign-in paths and pages."""

    row = SsoSettings.objects.filter(pk=1).first()
    if row is None:
        return {}
    values: dict[str, Any] = {
        f: getattr(row, f) for f in ENVIRONMENT if f != "client_secret" and getattr(row, f)
    }
    if row.client_secret_ciphertext:
        values["client_secret"] = crypto.decrypt(row.client_secret_ciphertext)
    return values


def _source(field_name: str) -> str:
    """Where a field's value comes from, as an error names it."""
    if field_name in environment():
        return ENVIRONMENT[field_name]
    return f"the console's {field_name.replace('_', ' ')}"


def _merged() -> dict[str, Any]:
    """Each field from the environment where set, else from the console's row; the
    environment's maps are ``claim=value`` text, the row's already parsed."""
    values = stored()
    env = environment()
    for field_name in ("role_map", "team_map"):
        if field_name in env:
            try:
                values[field_name] = parse_pairs(env[field_name], ENVIRONMENT[field_name])
            except ValueError as exc:
                raise ImproperlyConfigured(str(exc)) from None
    return {**values, **{k: v for k, v in env.items() if k not in ("role_map", "team_map")}}


def config() -> SsoConfig | None:
    """The configured provider, or None when single sign-on is off: the environment
    (read once per process) over what the console stored (read each time, so a save
    reaches every worker at its next sign-in). A half-done configuration is an
    ``ImproperlyConfigured`` naming the variable or the console field at fault."""
    values = _merged()
    issuer = values.get("issuer", "")
    if not issuer:
        return None
    client_id = values.get("client_id", "")
    if not client_id:
        raise ImproperlyConfigured(
            f"{_source('issuer')} is set: {ENVIRONMENT['client_id']} (or the console's "
            "client id) too"
        )
    role_map = dict(values.get("role_map") or {})
    try:
        check_role_map(role_map)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{_source('role_map')} {exc}") from None
    try:
        default_role = check_default_role(values.get("default_role", ""))
    except ValueError as exc:
        raise ImproperlyConfigured(f"{_source('default_role')} {exc}") from None
    host = issuer.split("//", 1)[-1].split("/", 1)[0]
    return SsoConfig(
        issuer=issuer,
        client_id=_resolved("client_id", client_id),
        client_secret=_resolved("client_secret", values.get("client_secret", "")),
        scopes=values.get("scopes") or DEFAULT_SCOPES,
        label=values.get("label") or f"Sign in with {host}",
        role_claim=values.get("role_claim") or "groups",
        role_map=role_map,
        default_role=default_role,
        team_claim=values.get("team_claim") or "groups",
        team_map=dict(values.get("team_map") or {}),
    )


def _resolved(field_name: str, value: str) -> str:
    """An ``os.environ/NAME`` in ``value`` read: any variable where the operator set the
    field in the environment; only what ``SWITCHYARD_ENV_ALLOW`` allows where an owner
    set it in the console (reading the host's environment is the operator's power)."""
    try:
        if field_name in environment():
            return resolve_operator_value(value)
        return resolve_secret(value)
    except MissingSecret as exc:
        raise ImproperlyConfigured(f"{_source(field_name)}: {exc}") from None


def forget() -> None:
    """Read the environment again (tests that change it)."""
    environment.cache_clear()


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
