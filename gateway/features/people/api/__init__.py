"""People in the management API, one router per resource: ``/api/teams``, ``/api/users``
and ``/api/user-limits``, ``/api/invites``, ``/api/sso-removals`` and ``/api/sign-in``
(the single sign-on settings). ``ROUTERS`` are mounted by ``gateway.edge.api``."""

from __future__ import annotations

from gateway.features.people.api import invites, sign_in, sso_removals, teams, users

ROUTERS = (
    ("/teams", teams.router),
    ("/users", users.router),
    ("/user-limits", users.limits_router),
    ("/invites", invites.router),
    ("/sso-removals", sso_removals.router),
    ("/sign-in", sign_in.router),
)
