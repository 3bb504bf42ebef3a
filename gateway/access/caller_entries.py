"""The callers' side of the registry snapshot (``gateway.access.registry``): API keys
with their teams, owners' limits and guardrails, and the tags with limits of their own.

Read from the database once per snapshot build, a query per table; a deactivated
user's keys come out revoked."""

from __future__ import annotations

from gateway.base.entries import (
    KeyEntry,
    TagEntry,
    TeamEntry,
    UserEntry,
    mcp_list,
    mcp_within,
    same_named,
)
from gateway.models import ApiKey, Profile, TagBudget, Team


def names_list(value: object) -> tuple[str, ...]:
    """A stored JSON list of names (guardrails, modes) as a tuple; anything else: ()."""
    return tuple(str(item) for item in value) if isinstance(value, list) else ()


# the rpm, tpm and budget (and its period) a key, team, user or tag row sets
_LIMITS = "rpm_limit tpm_limit budget_usd budget_period"


def keys() -> dict[str, KeyEntry]:
    """The keys by hash, with their teams, owners' limits and guardrails."""
    team_guardrails = {t.id: names_list(t.guardrails) for t in Team.objects.all()}
    teams = {
        t.id: TeamEntry(
            **same_named(t, "id name " + _LIMITS),
            mcp_allowed=None if t.mcp_allowed is None else mcp_list(t.mcp_allowed),
        )
        for t in Team.objects.all()
    }
    owners = _limited_users()
    inactive = _inactive_users()
    keys: dict[str, KeyEntry] = {}
    for k in ApiKey.objects.prefetch_related("routes"):
        allowed = frozenset(r.name for r in k.routes.all())
        keys[k.key_hash] = KeyEntry(
            **same_named(k, "id name prefix expires_at max_budget_per_user user_id enforce_tags"),
            routes=allowed or None,
            **same_named(k, _LIMITS),
            # a deactivated user's keys stop with them (401 as a revoked key's)
            revoked=k.revoked_at is not None or k.user_id in inactive,
            team=teams.get(k.team_id) if k.team_id is not None else None,
            minted_by=k.minted_by_id,
            owner=owners.get(k.user_id) if k.user_id is not None else None,
            mcp_allowed=mcp_within(
                mcp_list(k.mcp_allowed),
                teams[k.team_id].mcp_allowed if k.team_id in teams else None,
            ),
            guardrails=tuple(
                dict.fromkeys((*names_list(k.guardrails), *team_guardrails.get(k.team_id, ())))
            ),
            tags=tuple(names_list(k.tags)),
        )
    return keys


def _limited_users() -> dict[int, UserEntry]:
    """The users with limits of their own (``Profile``), by id: one query per build."""
    from django.db.models import Q

    rows = Profile.objects.select_related("user").filter(
        Q(rpm_limit__isnull=False) | Q(tpm_limit__isnull=False) | Q(budget_usd__isnull=False)
    )
    return {
        p.user_id: UserEntry(
            id=p.user_id,
            name=p.user.get_username(),
            **same_named(p, _LIMITS),
        )
        for p in rows
    }


def limited_tags() -> dict[str, TagEntry]:
    """The tags with limits of their own (``TagBudget``), by name: one query per build."""
    entries = (TagEntry(**same_named(t, "id name " + _LIMITS)) for t in TagBudget.objects.all())
    return {entry.name: entry for entry in entries if entry.limited}


def _inactive_users() -> set[int]:
    """Ids of deactivated users (``is_active`` off): their keys are refused."""
    from django.contrib.auth import get_user_model

    return set(get_user_model().objects.filter(is_active=False).values_list("pk", flat=True))
