"""Console keys: the managed virtual key a console user's playground runs, evaluations and
shadow scoring go out with, one per (user, team they run under).

Before, those calls went out as the master key: a member of a team with a $0.01 budget
spent $10 from the playground. Now each is an ordinary ``ApiKey`` row owned by the user,
of the team chosen, with the ``console`` scope; its raw key is drawn at random and thrown
away (nobody can send it), and the console hands the snapshot's ``KeyEntry`` to the
service directly. So the key's, the team's and the user's limits, the route team check
(``route.call``), the team's MCP grants, team spend after a restart (summed by the team's
keys) and who sees the journal rows (``roles.visible_logs``: a user's own keys) all hold
without a special case.

Who may run as whom is decided here, from the database, each time a console key is asked
for (never on the /v1 path): the user must be active with a console role that has the
ability asked for; a user in teams runs under one of them (owners and admins under any
team, or none); a user in no team runs on a personal console key without a team. A
revoked console key stays revoked: the console refuses to run under it. Console keys
cannot be edited (``gateway.access.keys.update_key``) nor created through the key API
(the scope is not one it accepts).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from gateway.access import authorization, registry, roles
from gateway.base.entries import KeyEntry, mcp_within
from gateway.models import ApiKey, Team

CONSOLE_SCOPE = "console"
CONSOLE_PREFIX = "console"
NO_TEAM = ""  # what a page or message sends for "no team"
DEFAULT: Any = object()  # "the user's default team" (``parse_team``, ``key_for``)


class ConsoleIdentityRefused(Exception):
    """The user may not run under this identity now; ``str()`` is safe to show them."""


@dataclass(frozen=True, slots=True)
class TeamChoice:
    id: int | None  # None: no team (a personal console key)
    name: str


def is_console_key(key: Any) -> bool:
    """Whether an ``ApiKey`` row is a console key (managed here, never edited)."""
    return CONSOLE_SCOPE in (getattr(key, "scopes", "") or "").split()


def team_choices(actor: roles.Actor) -> list[TeamChoice]:
    """The teams ``actor`` may run console calls under, the default first: their teams by
    name (owners and admins: every team, their own first), and "no team" for owners,
    admins and users in no team."""

    if actor.role is None:
        return []
    own = list(Team.objects.filter(pk__in=actor.team_ids()).order_by("name"))
    choices = [TeamChoice(t.pk, t.name) for t in own]
    if actor.everywhere:
        others = Team.objects.exclude(pk__in=[t.pk for t in own]).order_by("name")
        choices += [TeamChoice(t.pk, t.name) for t in others]
    if actor.everywhere or not own:
        choices.insert(len(own), TeamChoice(None, "no team (personal)"))
    return choices


def parse_team(value: Any) -> Any:
    """A team as a page or a message sends it: a team id, ``NO_TEAM`` for none, and
    ``DEFAULT`` when not given (None or missing)."""
    if value is None:
        return DEFAULT
    if value == NO_TEAM:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ConsoleIdentityRefused(f"unknown team {value!r}") from None


def key_for(user_id: int, team: int | None | object, ability: str) -> KeyEntry:
    """The snapshot entry of ``user_id``'s console key for ``team`` (a team id, None for
    no team, ``DEFAULT`` for their default), created on first use. Sync (database);
    raise ConsoleIdentityRefused when the user may not run so now."""
    actor, user = _fresh_actor(user_id)
    if actor.role is None:
        raise ConsoleIdentityRefused("this account may no longer use the console")
    if not actor.can(ability):
        raise ConsoleIdentityRefused(f"the role {actor.role} may not do this")
    choices = team_choices(actor)
    if team is not DEFAULT:
        decision = authorization.decide(actor, "console.run_as", team)
        if not decision:
            raise ConsoleIdentityRefused(decision.reason)
    found = [c for c in choices if team is DEFAULT or c.id == team]
    if not found:
        raise ConsoleIdentityRefused("that team no longer exists")
    chosen = found[0]
    row = _ensure_row(user, chosen, mcp=roles.may_use_mcp_servers(actor))
    return _snapshot_entry(row)


def _fresh_actor(user_id: int) -> tuple[roles.Actor, Any]:
    """The user as the database says now (not a session's cached actor)."""
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        raise ConsoleIdentityRefused("this account no longer exists")
    return roles.actor_for_user(user), user


def _ensure_row(user: Any, team: TeamChoice, *, mcp: bool) -> Any:
    """The user's console key row for ``team``, created if there is none; its MCP grant
    follows the user's role now (all servers, within the team's, for the roles that may
    attach servers in the playground; none for the others)."""
    from django.db import transaction

    wanted = ["*"] if mcp else []
    with transaction.atomic():
        row = (
            ApiKey.objects.select_for_update()
            .filter(user=user, team_id=team.id, scopes=CONSOLE_SCOPE)
            .order_by("id")
            .first()
        )
        if row is None:
            raw = secrets.token_urlsafe(32)  # never stored, never shown: nobody can send it
            name = f"console:{user.get_username()}"
            if team.id is not None:
                name += f" ({team.name})"
            return ApiKey.objects.create(
                name=name[:200],
                prefix=CONSOLE_PREFIX,
                key_hash=ApiKey.hash_key(raw),
                team_id=team.id,
                user=user,
                minted_by=user,  # the gateway holds it for them: their own identity
                scopes=CONSOLE_SCOPE,
                mcp_allowed=wanted,
            )
        if row.revoked_at is not None:
            raise ConsoleIdentityRefused(
                f"your console key {row.name!r} has been revoked: ask an admin"
            )
        if row.mcp_allowed != wanted:
            row.mcp_allowed = wanted
            row.save(update_fields=["mcp_allowed", "updated_at"])
        return row


def _snapshot_entry(row: Any) -> KeyEntry:
    """The row's entry in this process's snapshot, rebuilt once when it is not there yet
    or is older than the row (just created, or changed through another process)."""
    entry = registry.current().key_by_id(row.pk)
    if entry is None or entry.mcp_allowed != _expected_mcp(row, entry):
        registry.rebuild()
        entry = registry.current().key_by_id(row.pk)
    if entry is None:  # pragma: no cover - the row was deleted meanwhile
        raise ConsoleIdentityRefused("your console key could not be loaded: try again")
    if entry.revoked:
        raise ConsoleIdentityRefused(f"your console key {row.name!r} has been revoked")
    return entry


def _expected_mcp(row: Any, entry: KeyEntry) -> frozenset[str]:
    team = entry.team.mcp_allowed if entry.team is not None else None
    return mcp_within(frozenset(row.mcp_allowed or ()), team)
