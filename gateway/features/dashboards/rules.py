"""Who pins, unpins and reorders charts on a dashboard board (``gateway.models.PinnedChart``):
the resource is the board's team (None: the global board). And who may write each field
of a pin (``gateway.access.field_rules``). Imported by the unit's ``register``."""

from __future__ import annotations

from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule
from gateway.access.field_rules import ADMIN, MEMBER, FieldRule, declare, same


@rule("dashboard.pin")
def dashboard_pin(actor: roles.Actor, team: Any) -> Decision:
    """Pin, unpin or reorder a chart on a board: owners and admins the global board and
    every team's; editors and members the boards of the teams they hold the editor or
    member role in; viewers none."""
    if actor.everywhere:
        return ALLOW
    if not actor.can("dashboard.pin"):
        return deny(f"the role {actor.role or 'none'} may not pin charts")
    if team is None:
        return deny("only owners and admins pin charts to the global board")
    if getattr(team, "pk", team) in actor.team_ids(roles.EDITOR, roles.MEMBER):
        return ALLOW
    return deny("you may pin charts only to the boards of your own teams")


# a team's board: its editors and members (and owners, admins); the global one (no
# team): owners and admins, which rule dashboard.pin says
declare(
    "pinned_charts",
    {
        "team": FieldRule(MEMBER, ADMIN, rule="dashboard.pin"),
        **same(MEMBER, "metric", "group_by", "window", "score_name", rule="dashboard.pin"),
    },
)
