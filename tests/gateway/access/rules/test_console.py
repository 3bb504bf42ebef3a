"""Console pages, ``/api`` operations and sockets (``gateway.access.rules.console``): each
needs the ability its declaration names; an undeclared page or /api resource and an
unknown socket are for owners only; an account without a console role opens nothing
but public pages."""

from __future__ import annotations

from gateway.access import roles
from gateway.access.authorization import decide
from gateway.access.roles import Actor


def test_an_undeclared_page_is_for_owners_only() -> None:
    assert decide(Actor(roles.OWNER), "page.open", ("no-such-page", "GET"))
    refusal = decide(Actor(roles.ADMIN), "page.open", ("no-such-page", "GET"))
    assert not refusal and refusal.reason == "the role admin may not open this page"
    none = decide(roles.NOBODY, "page.open", ("no-such-page", "GET"))
    assert not none and none.reason == "no console access"


def test_an_api_resource_needs_its_read_or_write_ability() -> None:
    viewer = Actor(roles.VIEWER)
    assert decide(viewer, "api.call", ("/api/keys/3", "GET"))
    refusal = decide(viewer, "api.call", ("/api/keys/3", "DELETE"))
    assert not refusal and refusal.reason == "the role viewer may not do this"
    assert not decide(Actor(roles.ADMIN), "api.call", ("/api/no-such-thing", "GET"))
    assert decide(roles.NOBODY, "api.call", ("/api/keys", "GET")).reason == (
        "the role none may not do this"
    )


def test_a_socket_needs_its_ability() -> None:
    assert decide(Actor(roles.VIEWER), "socket.connect", "tail")
    refusal = decide(Actor(roles.VIEWER), "socket.connect", "playground")
    assert not refusal and refusal.reason == "the role viewer may not open this socket"
    assert decide(Actor(roles.MEMBER), "socket.connect", "playground")
    assert not decide(Actor(roles.ADMIN), "socket.connect", "no-such-socket")
