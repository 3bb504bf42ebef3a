"""Routes as a resource: who may change one, who may call one (a console actor in the
playground, or a virtual key on /v1: the requested route, its fallbacks and
context-window fallbacks, a batch line's route), and to whose shadow routes a request
may be mirrored."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, decide, deny, rule
from gateway.base.entries import KeyEntry


@dataclass(slots=True)  # not frozen: made once per admission, twice as fast to make
class RouteName:
    """A route as admission knows it (``limits.admit``): its name and the teams it is
    limited to (None: every team); what ``route.call`` reads of a ``RouteEntry``."""

    name: str
    teams: frozenset[int] | None = None


@rule("route.change")
def route_change(actor: roles.Actor, route: Any) -> Decision:
    """Edit, toggle or delete a route: owners and admins any; editors routes limited to
    one of their teams."""
    if roles.may_change_route(actor, route):
        return ALLOW
    return deny("you may not change this route")


@rule("route.call")
def route_call(actor: Any, route: Any) -> Decision:
    """Send a request to a route (a snapshot ``RouteEntry``): a key needs the route in its
    list (or no list) and, for a route limited to teams, a key of one of those teams; the
    master key any; a console actor, a route open to all or one of their teams'."""
    teams = getattr(route, "teams", None)
    if isinstance(actor, KeyEntry):
        if actor.is_master:
            return ALLOW
        if not actor.allows(route.name):
            return deny(f"this API key may not use model {route.name!r}")
        if teams is not None and (actor.team is None or actor.team.id not in teams):
            return deny(f"model {route.name!r} is limited to other teams than this key's")
        return ALLOW
    if roles.may_use_route(actor, route):
        return ALLOW
    return deny(f"model {route.name!r} is limited to other teams than yours")


@rule("route.mirror")
def route_mirror(actor: Any, route: Any) -> Decision:
    """Copy a request to one of its route's shadow routes: a route limited to teams needs
    a key of one of those teams (the master key any). A mirror answers nobody and is
    billed to no key, so the key's own route list is not asked (what answers or bills
    the key, the requested route and its fallbacks, is ``route.call``)."""
    if not isinstance(actor, KeyEntry):
        return route_call(actor, route)
    teams = getattr(route, "teams", None)
    if actor.is_master or teams is None or (actor.team is not None and actor.team.id in teams):
        return ALLOW
    return deny(f"model {route.name!r} is limited to other teams than this key's")


def refused_attachments(actor: roles.Actor, wanted: Any, attached: Any = ()) -> list[str]:
    """The servers in ``wanted`` (a route's new ``mcp_servers``) that were not attached
    before and ``actor`` may not attach (rule ``mcp.server.attach``, the MCP feature's);
    keeping or removing a server someone else attached needs no right."""
    before = {str(name) for name in attached or ()}
    return [
        str(name)
        for name in wanted or ()
        if str(name) not in before and not decide(actor, "mcp.server.attach", str(name))
    ]
