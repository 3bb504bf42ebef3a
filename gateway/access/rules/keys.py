"""Virtual keys as a resource of the console and /api: who may change a key, which team
and owner a key may be given, and what it may hold (``key.grant``: its limits, routes,
MCP grants and scopes against the actor's role and the key's team)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.base.entries import mcp_within

if TYPE_CHECKING:
    from gateway.access.keys import KeyGrant


@rule("key.change")
def key_change(actor: roles.Actor, key: Any) -> Decision:
    """Change or revoke a key: owners and admins any; editors their teams' keys and their
    own; members their own."""
    if roles.may_change_key(actor, key):
        return ALLOW
    return deny("you may not change this key")


LIMITS = (("rpm_limit", "requests per minute"), ("tpm_limit", "tokens per minute"))


@rule("key.grant")
def key_grant(actor: roles.Actor, grant: KeyGrant) -> Decision:
    """What a key may hold once created or changed. The management scope: owners and
    admins, for themselves; only owners give it to another user. A key's owner is the
    actor or someone of a strictly lower role (owners: anyone): its use and spend are
    credited to its owner, so nobody reaches over an equal or a superior (an admin over
    another admin or an owner, an editor over an admin of their team). Below admin (editors
    in their editor teams, members in their teams): the key has one of those teams; its
    owner is the actor (an editor: or a member of that team); its rpm, tpm and budget
    are each empty ("the team's": the team's limit counts every request of the key,
    live) or at most the team's; its routes are open to the team; its MCP grants lie within the team's (a team without MCP grants set grants
    nothing: a key keeps what an admin gave it, and gains nothing)."""
    if roles.MANAGEMENT_SCOPE in grant.scopes:
        refusal = _management(actor, grant)
        if refusal is not None:
            return refusal
    if actor.everywhere:
        refusal = _reaches_over(actor, grant)
        return ALLOW if refusal is None else refusal
    editor = actor.role == roles.EDITOR
    allowed_teams = actor.editor_teams() if editor else actor.team_ids()
    team = grant.team
    if team is None:
        return deny("a key of yours must belong to one of your teams")
    if team.pk not in allowed_teams:
        return deny(f"you may not give a key team {team.name}")
    if grant.user_id != actor.user_id:
        if not editor:
            return deny("your keys are your own: you may not give a key to another user")
        refusal = _reaches_over(actor, grant)
        if refusal is not None:
            return refusal
        if grant.user_id is not None and team.pk not in grant.user_teams:
            return deny(f"a key of team {team.name} may only be given to a member of it")
    return _within_team(grant, team, narrows_only=not editor)


def _reaches_over(actor: roles.Actor, grant: KeyGrant) -> Decision | None:
    """A key owned by someone else is for someone of a strictly lower role (owners: any):
    its use and spend are credited to its owner, so nobody reaches over an equal."""
    if grant.user_id is None or grant.user_id == actor.user_id or actor.role == roles.OWNER:
        return None
    if roles.outranks(actor.role, grant.user_role):
        return None
    return deny(
        f"user: a key's owner must be you or someone of a lower role than {actor.role}; "
        f"this key's owner is {_a(grant.user_role)}"
    )


def _a(role: str | None) -> str:
    if role is None:
        return "without a console role"
    return f"{'an' if role[0] in 'aeiou' else 'a'} {role}"


def _management(actor: roles.Actor, grant: KeyGrant) -> Decision | None:
    if not actor.everywhere:
        return deny("only owners and admins may give a key the management scope")
    if grant.user_id is not None and grant.user_id == actor.user_id:
        return None
    if actor.role != roles.OWNER:
        return deny("only owners may give a management key to another user")
    return None


def _within_team(grant: KeyGrant, team: Any, *, narrows_only: bool) -> Decision:
    """Refuse the first of the key's limits, routes or MCP grants beyond its team's; for
    a member (``narrows_only``), also a limit set on their key (by an editor or admin)
    widened: a member lowers a limit, never raises it nor clears it to the team's."""
    for field, stored in grant.stored_limits if narrows_only else ():
        own = getattr(grant, field)
        effective = own if own is not None else getattr(team, field)
        if effective is None or effective > stored:
            return deny(
                f"{field}: this key's limit is {stored}; you may lower it, never raise "
                "it nor clear it to the team's"
            )
    for field, what in LIMITS:
        bound, own = getattr(team, field), getattr(grant, field)
        if bound is not None and own is not None and own > bound:
            return deny(
                f"{field}: team {team.name} allows at most {bound} {what}; "
                f"the key needs a limit of at most that (or none: the team's)"
            )
    if (
        team.budget_usd is not None
        and grant.budget_usd is not None
        and grant.budget_usd > team.budget_usd
    ):
        return deny(
            f"budget_usd: team {team.name}'s budget is ${team.budget_usd}; "
            "the key needs a budget of at most that (or none: the team's)"
        )
    closed = [name for name, teams in grant.routes if teams is not None and team.pk not in teams]
    if closed:
        return deny(f"routes: {', '.join(closed)} not open to team {team.name}")
    if team.mcp_allowed is not None:
        bound_mcp = list(team.mcp_allowed or [])
        wider = [i for i in grant.mcp_allowed if mcp_within([i], bound_mcp) != {i}]
        if wider:
            return deny(f"mcp_allowed: {', '.join(wider)} beyond team {team.name}'s MCP grants")
        return ALLOW
    # no bound set on the team: below admin that grants nothing; what an admin gave the
    # key is kept (and may be narrowed), nothing is added
    kept = list(grant.stored_mcp_allowed)
    wider = [i for i in grant.mcp_allowed if mcp_within([i], kept) != {i}]
    if wider:
        return deny(
            f"mcp_allowed: {', '.join(wider)}: team {team.name} has no MCP grants set, "
            "so a key of it gets none below admin (an admin sets the team's MCP grants)"
        )
    return ALLOW
