"""Console calls as a resource: under which team a signed-in user's playground runs,
evaluations and shadow scoring go out (their console key, gateway.access.console_keys)."""

from __future__ import annotations

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule


@rule("console.run_as")
def console_run_as(actor: roles.Actor, team_id: int | None) -> Decision:
    """Run console calls under a team (None: a personal key in no team): owners and admins
    any team or none; others one of their teams, or none only when they are in no team."""
    if actor.role is None:
        return deny("this account may no longer use the console")
    if actor.everywhere:
        return ALLOW
    if team_id is None:
        return deny("choose one of your teams to run under") if actor.teams else ALLOW
    if team_id in actor.teams:
        return ALLOW
    return deny("you may not run under that team")
