"""People as a unit (``gateway.web.units``): users, invitations, teams and how people
sign in (passwords, single sign-on and its settings): their pages, ``/api`` routers and
save operations; ``Unit.register`` imports its ``rules`` and ``signals`` (the invites'
receivers)."""

from __future__ import annotations

from gateway.web.units import Unit


class PeopleConfig(Unit):
    name = "gateway.features.people"
    label = "people"
    api_paths = (  # /api/<each>/...
        "teams",
        "users",
        "user-limits",
        "invites",
        "sso-removals",
        "sign-in",
    )
    verbose_name = "Switchyard people"
