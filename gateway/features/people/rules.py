"""Users as a resource: who may set a user's own limits (rpm, tpm, budget counted across
every key they own, gateway/limits/limits.py), who may invite whom, and who deactivates
and removes users; and who may write each field of teams, members, users, their limits,
invites and the single sign-on settings (the field rules). Imported by the unit's
``register`` (``gateway.web.units``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.access.field_rules import ADMIN, OWNER, FieldRule, declare, same

declare(
    "teams",
    same(
        ADMIN,
        *("name", "description", "rpm_limit", "tpm_limit", "budget_usd", "budget_period"),
        *("alert_thresholds", "mcp_allowed", "mcp_restricted", "a2a_allowed"),
        *("a2a_restricted", "guardrails"),
    ),
)
declare("team_members", same(ADMIN, "user", "role"))
declare(
    "users",
    {
        **same(OWNER, "username", "email", "password", "teams"),
        "role": FieldRule(OWNER, OWNER),
        "active": FieldRule(OWNER, OWNER, rule="user.manage"),
    },
)
limits = ("rpm_limit", "tpm_limit", "budget_usd", "budget_period", "alert_thresholds")
declare("user_limits", same(ADMIN, *limits, rule="user.limit"))
invited = ("username", "email", "role", "teams", "expires_in_days", "password", "how")
declare("invites", same(ADMIN, *invited, rule="user.invite"))
# single sign-on (the console's settings; the environment wins where set): owners
declare(
    "sso",
    same(
        OWNER,
        *("issuer", "client_id", "client_secret", "clear_secret", "scopes", "label"),
        *("role_claim", "role_map", "default_role", "team_claim", "team_map"),
    ),
)


@rule("user.limit")
def user_limit(actor: roles.Actor, user: Any) -> Decision:
    """Set a user's own limits: owners anyone's; admins those of users below owner
    (an admin does not reach over an owner)."""
    if actor.role == roles.OWNER:
        return ALLOW
    if actor.role != roles.ADMIN:
        return deny(f"the role {actor.role or 'none'} may not set users' limits")
    if roles.role_of_any(user) == roles.OWNER:
        return deny("only owners may set an owner's limits")
    return ALLOW


@dataclass(frozen=True)
class InviteGrant:
    """What an invitation (or an account made with a password at once) would give."""

    role: str
    team_ids: frozenset[int] = frozenset()


@rule("user.invite")
def user_invite(actor: roles.Actor, grant: InviteGrant) -> Decision:
    """Invite a user, or make one with a password now: owners with any role and teams;
    admins with any role below owner (an admin never makes an owner)."""
    if actor.role == roles.OWNER:
        return ALLOW
    if actor.role != roles.ADMIN:
        return deny(f"the role {actor.role or 'none'} may not invite users")
    if grant.role == roles.OWNER:
        return deny("only owners may invite an owner")
    return ALLOW


@rule("user.manage")
def user_manage(actor: roles.Actor, user: Any) -> Decision:
    """Deactivate, reactivate or remove a user: owners (never themselves, never the last
    owner: ``gateway.features.people.save`` refuses those)."""
    if actor.role == roles.OWNER:
        return ALLOW
    return deny("only owners may deactivate or remove users")
