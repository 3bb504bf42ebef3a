"""Virtual API keys: creation (the raw key is returned once, only its hash is kept),
validation of limits, updates and revocation. The console, the management API and the
``create_key`` command all go through these functions.

Every function validates all its input first and raises one ``ValidationError`` whose
``message_dict`` names each bad field; nothing is written unless everything is valid.
Saving a key bumps the registry version (``gateway.access.signals``), so a change or a
revocation is in force on the next request, on every instance.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from gateway.access import roles
from gateway.access.alert_thresholds import parse_thresholds
from gateway.access.console_keys import is_console_key
from gateway.access.tag_bounds import parse_tags
from gateway.base.entries import mcp_within
from gateway.base.numbers import row_id
from gateway.models import ApiKey, Guardrail, Membership, Profile, Route, Team

KEY_PREFIX = "sy-"
UNSET: Any = object()  # "leave this field as it is" in update_key


@dataclass(slots=True)
class CreatedKey:
    key: ApiKey
    raw: str  # shown once, never stored


def generate_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


# --- field parsers: each returns the clean value or raises ValueError(message) --------------


# Names only a config file's import gives a key (its ``general_settings.master_key``):
# a key a person named so would be the one an import rebinds (M15).
MASTER_KEY_NAME = "litellm-master-key"
RESERVED_NAMES = frozenset({MASTER_KEY_NAME})


def _name(value: object) -> str:
    name = str(value or "").strip()
    if not name:
        raise ValueError("a key needs a name")
    if len(name) > 200:
        raise ValueError("must be at most 200 characters")
    if name.casefold() in RESERVED_NAMES:
        raise ValueError(
            f"{name!r} is reserved for the master key a config file's import makes "
            "(general_settings.master_key): choose another name"
        )
    return name


def _limit(value: object) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"must be a whole number, got {value!r}")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise ValueError(f"must be a whole number, got {value!r}") from None
    if number < 1:
        raise ValueError("must be a positive whole number (leave it empty for no limit)")
    return number


def _budget(value: object) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"must be an amount in USD, got {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError("must be a non-negative amount in USD")
    if amount >= Decimal("1e8"):
        raise ValueError("must be below 100000000 USD")
    return amount.quantize(Decimal("0.0001"))


def _period(value: object) -> str:
    period = str(value or ApiKey.Period.MONTH).strip().lower()
    if period not in ApiKey.Period.values:
        raise ValueError(f"must be one of {', '.join(ApiKey.Period.values)}, got {value!r}")
    return period


def parse_flag(value: object) -> bool:
    """A yes/no setting: a boolean, or true/false, yes/no, on/off, 1/0 (None, "": no)."""
    if value is None or value == "":
        return False
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in ("true", "yes", "on", "1"):
        return True
    if word in ("false", "no", "off", "0"):
        return False
    raise ValueError(f"must be true or false, got {value!r}")


def parse_expiry(value: object) -> datetime | None:
    """A datetime, a date (the key expires at 00:00 UTC that day) or an ISO string of
    either; naive times are UTC. Must lie in the future."""
    if value is None or value == "":
        return None
    moment: datetime | None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time.min)
    else:
        text = str(value).strip()
        try:
            moment = parse_datetime(text)
            if moment is None and (day := parse_date(text)) is not None:
                moment = datetime.combine(day, time.min)
        except ValueError:
            moment = None
        if moment is None:
            raise ValueError(f"must be a date (YYYY-MM-DD) or an ISO datetime, got {value!r}")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment <= timezone.now():
        raise ValueError("must be in the future")
    return moment


def _routes(value: object) -> list[Route]:
    if value is None or value == "":
        return []
    names = value.split(",") if isinstance(value, str) else list(value)  # type: ignore[call-overload]
    wanted = list(dict.fromkeys(str(n).strip() for n in names if str(n).strip()))
    found = {r.name: r for r in Route.objects.filter(name__in=wanted)}
    unknown = [n for n in wanted if n not in found]
    if unknown:
        raise ValueError(f"unknown route(s): {', '.join(unknown)}")
    return [found[n] for n in wanted]


def _row(model: Any, field: str, what: str, value: object) -> Any:
    """A ``model`` row by id or by ``field``; None or "" for none."""
    if value is None or value == "":
        return None
    if isinstance(value, model):
        return value
    text = str(value).strip()
    number = row_id(text)
    row = model.objects.filter(pk=number).first() if number is not None else None
    row = row or model.objects.filter(**{field: text}).first()
    if row is None:
        raise ValueError(f"unknown {what} {value!r}")
    return row


def _team(value: object) -> Any:
    """A team by id or name; None or "" for none."""

    return _row(Team, "name", "team", value)


def _user(value: object) -> Any:
    """A console user by id or username; None or "" for none."""
    from django.contrib.auth import get_user_model

    return _row(get_user_model(), "username", "user", value)


def _words(value: object, what: str) -> list[str]:
    """A comma/space separated string or a list of strings, as its non-empty items
    (stripped), each once, in order."""
    if value is None or value == "":
        return []
    items = re.split(r"[\s,]+", value) if isinstance(value, str) else value
    if not isinstance(items, list | tuple | set | frozenset) or not all(
        isinstance(i, str) for i in items
    ):
        raise ValueError(f"a list of {what}")
    return list(dict.fromkeys(i.strip() for i in items if i.strip()))


SCOPES = ("management",)


def _scopes(value: object) -> str:
    """Scopes as stored: known names, space-separated."""
    scopes = sorted(_words(value, "scope names"))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown:
        raise ValueError(f"unknown scope(s) {', '.join(unknown)}; known: {', '.join(SCOPES)}")
    return " ".join(scopes)


def _mcp_allowed(value: object) -> list[str]:
    """MCP servers/tools a key may use: a list or a comma/space separated string of
    ``server``, ``server__tool`` or ``*``."""
    out = _words(value, "MCP server or server__tool names")
    for item in out:
        if item != "*" and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]*(__.+)?$", item):
            raise ValueError(f"{item!r}: not a server, server__tool or *")
    return out


clean_mcp_allowed = _mcp_allowed  # also a team's bound (gateway/features/people/api/teams.py)


def clean_a2a_allowed(value: object) -> list[str]:
    """A2A agents a key (or, as a bound, a team's keys) may call: a list or a comma/space
    separated string of agent names or ``*``."""
    out = _words(value, "agent names")
    for item in out:
        if item != "*" and not re.match(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$", item):
            raise ValueError(f"{item!r}: not an agent name or *")
    return out


def clean_guardrails(value: object) -> list[str]:
    """Guardrails (names) a key, a team or a route runs: a list or a comma/space
    separated string of existing guardrails' names (null: none). A key attaches
    guardrails only: the default ones run whatever it lists."""

    names = _words(value, "guardrail names")
    found = set(Guardrail.objects.filter(name__in=names).values_list("name", flat=True))
    unknown = [n for n in names if n not in found]
    if unknown:
        raise ValueError(f"unknown guardrail(s): {', '.join(unknown)}")
    return names


def mcp_effective(key: ApiKey) -> list[str]:
    """What the key may use on /mcp: its own ``mcp_allowed`` within its team's."""

    own = key.mcp_allowed if isinstance(key.mcp_allowed, list) else []
    team = key.team.mcp_allowed if key.team_id is not None else None
    return sorted(mcp_within(own, team if isinstance(team, list) else None))


def a2a_effective(key: ApiKey) -> list[str]:
    """The A2A agents the key may call: its own ``a2a_allowed`` within its team's (a
    team without a list does not restrict; ``*`` in the team's keeps the key's)."""
    own = key.a2a_allowed if isinstance(key.a2a_allowed, list) else []
    team = key.team.a2a_allowed if key.team_id is not None else None
    if not isinstance(team, list) or "*" in team:
        return sorted(own)
    if "*" in own:
        return sorted(team)
    return sorted(set(own) & set(team))


PARSERS = {
    "name": _name,
    "team": _team,
    "user": _user,
    "scopes": _scopes,
    "mcp_allowed": _mcp_allowed,
    "a2a_allowed": clean_a2a_allowed,
    "guardrails": clean_guardrails,
    "tags": parse_tags,
    "enforce_tags": parse_flag,
    "alert_thresholds": parse_thresholds,
    "routes": _routes,
    "rpm_limit": _limit,
    "tpm_limit": _limit,
    "budget_usd": _budget,
    "budget_period": _period,
    "max_budget_per_user": _budget,
    "expires_at": parse_expiry,
}


def clean_fields(values: dict[str, Any]) -> dict[str, Any]:
    """Parse every given field; raise one ValidationError naming all bad ones."""
    clean: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for field, value in values.items():
        try:
            clean[field] = PARSERS[field](value)
        except ValueError as exc:
            errors[field] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    return clean


# --- what a key would be: the resource ``key.grant`` judges ---------------------------------


@dataclass(frozen=True, slots=True)
class KeyGrant:
    """A key as it would stand after a create or a change (given fields over its current
    ones): its team, owner, routes with the teams each is limited to, limits, MCP grants
    and scopes; and the owner's role and teams. Built from rows already loaded, so the
    rule (gateway/access/rules/keys.py) queries nothing."""

    team: Any  # a Team row or None
    user_id: int | None
    user_role: str | None
    user_teams: frozenset[int]
    routes: tuple[tuple[str, frozenset[int] | None], ...]  # (): every route
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: Decimal | None
    mcp_allowed: tuple[str, ...]
    scopes: tuple[str, ...]
    # the MCP grant stored before this change (a new key: none): what a team without an
    # MCP bound lets a key below admin keep, never widen
    stored_mcp_allowed: tuple[str, ...] = ()
    # the limits stored before this change (a new key: none): below admin a limit is
    # never widened, clearing one included (empty means the team's, maybe more)
    stored_limits: tuple[tuple[str, Any], ...] = ()


def proposed(clean: dict[str, Any], key: ApiKey | None = None) -> KeyGrant:
    """The ``KeyGrant`` of ``key`` (None: a new key) with the ``clean_fields`` output
    ``clean`` applied."""

    def final(field: str, default: Any = None) -> Any:
        if field in clean:
            return clean[field]
        return getattr(key, field) if key is not None else default

    user = final("user")
    if "routes" in clean:
        routes = list(clean["routes"])
    else:
        routes = list(key.routes.all()) if key is not None else []
    scopes = final("scopes", "")
    teams: frozenset[int] = frozenset()
    if user is not None:
        teams = frozenset(Membership.objects.filter(user=user).values_list("team_id", flat=True))
    return KeyGrant(
        team=final("team"),
        user_id=user.pk if user is not None else None,
        user_role=roles.role_of_any(user) if user is not None else None,
        user_teams=teams,
        routes=tuple((r.name, frozenset(t.pk for t in r.teams.all()) or None) for r in routes),
        rpm_limit=final("rpm_limit"),
        tpm_limit=final("tpm_limit"),
        budget_usd=final("budget_usd"),
        mcp_allowed=tuple(final("mcp_allowed", None) or ()),
        scopes=tuple((scopes or "").split()),
        stored_mcp_allowed=tuple((key.mcp_allowed or ()) if key is not None else ()),
        stored_limits=tuple(
            (field, getattr(key, field))
            for field in ("rpm_limit", "tpm_limit", "budget_usd")
            if key is not None and getattr(key, field) is not None
        ),
    )


def defaults_for(actor: Any, fields: dict[str, Any]) -> dict[str, Any]:
    """A new key's fields with what a caller below admin left out (absent from
    ``fields``) filled in: the key is theirs, of their only team when they have one, so
    that ``{"name": ...}`` still makes a key ``key.grant`` admits. Limits left out stay
    empty: an empty rpm, tpm or budget on a key is "the team's" (and the owner's), which
    admission counts live through the snapshot's ``KeyEntry.team`` and ``.owner``; a
    copy here would freeze the team's limits of today into the key (issue #65). A field
    given, even as null, is left as given."""
    if actor.everywhere:
        return fields
    filled = dict(fields)
    if filled.get("user") is None:
        filled["user"] = actor.user_id
    if "team" not in filled:
        mine = actor.editor_teams() if actor.role == "editor" else actor.team_ids()
        if len(mine) == 1:
            filled["team"] = next(iter(mine))
    return filled


# --- operations -----------------------------------------------------------------------------


def create_key(
    *,
    name: str,
    routes: list[str] | str | None = None,
    rpm_limit: object = None,
    tpm_limit: object = None,
    budget_usd: object = None,
    budget_period: str = ApiKey.Period.MONTH,  # type: ignore[assignment]  # (a str: TextChoices)
    expires_at: object = None,
    max_budget_per_user: object = None,
    team: object = None,
    user: object = None,
    scopes: object = None,
    mcp_allowed: object = None,
    a2a_allowed: object = None,
    guardrails: object = None,
    tags: object = None,
    enforce_tags: object = None,
    alert_thresholds: object = None,
    minted_by: int | None = None,
) -> CreatedKey:
    """Validate everything first, then create the key in one transaction. ``minted_by``:
    the id of the person who gets the raw key (``roles.Actor.holder_id``; None: the
    operator or the master key); only they carry the owner's own upstream identities,
    and only when they are the owner."""
    clean = clean_fields({f: v for f, v in locals().items() if f in PARSERS})
    allowed = clean.pop("routes")
    raw = generate_raw_key()
    with transaction.atomic():
        key = ApiKey.objects.create(
            prefix=raw[:10], key_hash=ApiKey.hash_key(raw), minted_by_id=minted_by, **clean
        )
        if allowed:
            key.routes.set(allowed)
    return CreatedKey(key=key, raw=raw)


def update_key(
    key: ApiKey,
    *,
    name: object = UNSET,
    routes: object = UNSET,
    rpm_limit: object = UNSET,
    tpm_limit: object = UNSET,
    budget_usd: object = UNSET,
    budget_period: object = UNSET,
    expires_at: object = UNSET,
    max_budget_per_user: object = UNSET,
    team: object = UNSET,
    user: object = UNSET,
    scopes: object = UNSET,
    mcp_allowed: object = UNSET,
    a2a_allowed: object = UNSET,
    guardrails: object = UNSET,
    tags: object = UNSET,
    enforce_tags: object = UNSET,
    alert_thresholds: object = UNSET,
) -> ApiKey:
    """Change the given fields (None or "" clears a limit); validate all, then save. A
    console key (``gateway.access.console_keys``) is the console's: never edited into
    another kind of key (revoking it is how to stop it)."""
    given = {f: v for f, v in locals().items() if f in PARSERS and v is not UNSET}

    if is_console_key(key):
        raise ValidationError(
            {"__all__": ["a console key is managed by the console: it cannot be edited"]}
        )
    clean = clean_fields(given)
    allowed = clean.pop("routes", None)
    with transaction.atomic():
        for field, value in clean.items():
            setattr(key, field, value)
        if clean:
            key.save(update_fields=[*clean, "updated_at"])
        if "routes" in given:
            key.routes.set(allowed or [])
    return key


def revoke_key(key: ApiKey) -> ApiKey:
    """Revoke ``key`` for good (kept for the request log); idempotent."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at", "updated_at"])
    return key


# --- a user's own limits (across every key they own) --------------------------------------

USER_LIMITS = ("rpm_limit", "tpm_limit", "budget_usd", "budget_period", "alert_thresholds")


def user_limits(user: Any) -> dict[str, Any]:
    """A user's own limits (all None, period "month", when they have none)."""

    try:
        profile = user.switchyard  # a list's users come with it (select_related)
    except Profile.DoesNotExist:
        profile = None
    if profile is None:
        return {
            "rpm_limit": None,
            "tpm_limit": None,
            "budget_usd": None,
            "budget_period": "month",
            "alert_thresholds": None,
        }
    return {field: getattr(profile, field) for field in USER_LIMITS}


def save_user_limits(user: Any, values: dict[str, Any]) -> dict[str, Any]:
    """Set the given limits of ``user`` (None or "" clears one); validate all first and
    raise one ValidationError naming each bad field. The registry version is bumped
    (the snapshot's ``KeyEntry.owner``), so the limits hold from the next request."""

    unknown = [f for f in values if f not in USER_LIMITS]
    if unknown:
        raise ValidationError({f: ["not a user limit"] for f in unknown})
    clean = clean_fields(values)
    profile = Profile.objects.filter(user=user).first()  # as stored: it is saved below
    if profile is None:
        role = roles.role_of_any(user)
        if role is None:
            raise ValidationError({"role": ["give the user a console role first"]})
        profile = Profile(user=user, role=role)  # a staff owner keeps being an owner
    for field, value in clean.items():
        setattr(profile, field, value)
    profile.save()
    return {field: getattr(profile, field) for field in USER_LIMITS}


def keys_limited_to(route: Route) -> list[str]:
    """Names of the keys whose only allowed route is ``route`` (an empty allowed list
    means every route, so deleting the route must not empty theirs)."""
    keys = ApiKey.objects.filter(routes=route, revoked_at__isnull=True).prefetch_related("routes")
    return sorted(k.name for k in keys if len(k.routes.all()) == 1)
