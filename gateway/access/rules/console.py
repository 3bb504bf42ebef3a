"""Console pages, ``/api`` operations and console sockets, for a ``roles.Actor``: the
ability each needs is in ``roles.PAGES``, ``roles.API`` and ``roles.SOCKETS``."""

from __future__ import annotations

from typing import Any

from gateway.access import roles
from gateway.access.authorization import ALLOW, Decision, deny, rule


@rule("page.open")
def page_open(actor: roles.Actor, resource: tuple[str, str]) -> Decision:
    """A console URL (name, method): the ability its page declares (``roles.PAGES``, filled
    by ``gateway.web.pages``); undeclared: owners; a public page: anyone."""
    name, method = resource
    if roles.page_ability(name, method) is None:
        return ALLOW
    if actor.role is None:
        return deny("no console access")
    if roles.may_open(actor, name, method):
        return ALLOW
    return deny(f"the role {actor.role} may not open this page")


@rule("api.call")
def api_call(actor: roles.Actor, resource: tuple[str, str]) -> Decision:
    """An /api operation (path, method): the ability ``roles.API`` names for its resource;
    unlisted: owners."""
    path, method = resource
    if roles.may_call(actor, path, method):
        return ALLOW
    return deny(f"the role {actor.role or 'none'} may not do this")


@rule("socket.connect")
def socket_connect(actor: roles.Actor, resource: Any) -> Decision:
    """A console WebSocket (tail, playground, evals): the ability ``roles.SOCKETS`` names."""
    if roles.may_connect(actor, str(resource)):
        return ALLOW
    return deny(f"the role {actor.role or 'none'} may not open this socket")
