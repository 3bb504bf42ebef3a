"""Who an MCP client signed in through OAuth acts as on ``/mcp``: a user, under one of
their teams (or none), through a managed virtual key of theirs, ``mcp-oauth:<user>``.

The managed key (one per user and team, scope ``mcp-oauth``, its raw key never kept, so
nobody can send it) is what limits count and the journal names: the key's, its team's and
the user's own limits hold, and the user sees their requests in the logs as their own.
Revoking it in the console cuts every client signed in under it at once.

What the client may see and call is ``mcp.rules.user_grant``: the union of the MCP
grants of the user's own live keys in that team, read from the snapshot on each
request, so a key revoked or narrowed narrows the sign-ins at once. The entry handed to
``/mcp`` is the managed key's with that grant; every check after is the one each key
gets (``mcp.server.use``, ``mcp.tool.call``, ...)."""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from gateway.access import registry
from gateway.base.entries import MASTER, KeyEntry, Snapshot
from gateway.features.mcp.rules import OAUTH_SCOPE, tools_granted, user_grant
from gateway.models import ApiKey, Team

PREFIX = OAUTH_SCOPE  # the managed key's visible prefix (mcp.rules skips it as a grant)


class SignInRefused(Exception):
    """The user may not sign a client in so now; ``str()`` is safe to show them."""


@dataclass(frozen=True, slots=True)
class TeamOption:
    """A team the user may act under, with what it would open."""

    id: int | None
    name: str
    grant: frozenset[str]

    def servers(self, snapshot: Snapshot) -> list[tuple[str, list[str] | None]]:
        """(server, its tools granted: None for all) for each enabled server the grant
        opens, by name: what the consent page names."""
        probe = _probe(self.grant)
        out = []
        for name in sorted(snapshot.mcp_servers):
            if not snapshot.mcp_servers[name].enabled:
                continue
            tools = tools_granted(probe, name)
            if tools is None or tools:
                out.append((name, sorted(tools) if tools is not None else None))
        return out


def _probe(grant: frozenset[str]) -> KeyEntry:
    """A key that opens ``grant`` and nothing else: unlimited like the master key, but
    not it (the master key opens every server)."""
    return dataclasses.replace(MASTER, id=0, name="", prefix=PREFIX, mcp_allowed=grant)


def options(user_id: int, keys: Iterable[KeyEntry]) -> list[TeamOption]:
    """The teams ``user_id`` holds live keys with MCP grants in (``None``: keys without a
    team), each with its grant; the ones that open nothing are left out."""
    entries = list(keys)
    teams: dict[int | None, str] = {}
    for entry in entries:
        if entry.user_id == user_id:
            team = entry.team
            teams.setdefault(team.id if team else None, team.name if team else "no team")
    found = [TeamOption(t, name, user_grant(entries, user_id, t)) for t, name in teams.items()]
    return sorted((o for o in found if o.grant), key=lambda o: (o.id is None, o.name))


def signin_key(user: Any, team_id: int | None) -> Any:
    """The user's managed ``mcp-oauth`` key for ``team_id``, created on first consent.
    Sync (database); raise SignInRefused when it was revoked."""
    from django.db import transaction

    with transaction.atomic():
        row = (
            ApiKey.objects.select_for_update()
            .filter(user=user, team_id=team_id, scopes=OAUTH_SCOPE)
            .order_by("id")
            .first()
        )
        if row is not None:
            if row.revoked_at is not None:
                raise SignInRefused(
                    f"your MCP sign-in key {row.name!r} has been revoked: ask an admin"
                )
            return row
        name = f"{OAUTH_SCOPE}:{user.get_username()}"
        if team_id is not None:
            name += f" ({Team.objects.get(pk=team_id).name})"
        raw = secrets.token_urlsafe(32)  # never stored, never shown: nobody can send it
        return ApiKey.objects.create(
            name=name[:200],
            prefix=PREFIX,
            key_hash=ApiKey.hash_key(raw),
            team_id=team_id,
            user=user,
            minted_by=user,  # the gateway holds it for them: their own identity
            scopes=OAUTH_SCOPE,
            mcp_allowed=[],
        )


# (snapshot version, managed key hash) -> the entry /mcp acts with
_acting: dict[tuple[int, str], KeyEntry | None] = {}


def acting_entry(key_hash: str, user_id: int) -> KeyEntry | None:
    """The managed key's snapshot entry with the user's grant under its team (None:
    the key is not in the snapshot). In memory only; computed once per snapshot."""
    snapshot = registry.current()
    cache_key = (snapshot.version, key_hash)
    if cache_key in _acting:
        return _acting[cache_key]
    entry = snapshot.keys.get(key_hash)
    if entry is not None:
        team = entry.team.id if entry.team is not None else None
        grant = user_grant(snapshot.keys.values(), user_id, team)
        entry = dataclasses.replace(entry, mcp_allowed=grant)
    first = next(iter(_acting), None)
    if len(_acting) > 4096 or (first is not None and first[0] != snapshot.version):
        _acting.clear()  # entries of an older snapshot are of no more use
    _acting[cache_key] = entry
    return entry
