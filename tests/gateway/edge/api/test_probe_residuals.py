"""Residual findings of the repeated governance probe (docs/security-probe.md,
2026-11-24), each failing on main at 86e20e5:

- R2 (L17): ``POST /api/users`` creates a Cyrillic look-alike of an existing username
  and a username with a control character; only SSO provisioning checks them
  (``gateway.access.usernames``).
- R6: ``GET /api/routes/{id}`` shows a route limited to another team, whole, to that
  team's outsiders (the console's route page refuses them; ``/v1/models`` hides it)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import Provider, Route, Team

pytestmark = pytest.mark.django_db


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner() -> User:
    user = User.objects.create_user("owner", password="pw-123456789")
    roles.set_role(user, roles.OWNER)
    return user


@pytest.mark.parametrize("username", ["\u0430dmin", "bob\x07"])
def test_api_refuses_a_look_alike_or_control_character_username(owner, username) -> None:
    admin = User.objects.create_user("admin", password="pw-123456789")
    roles.set_role(admin, roles.ADMIN)
    reply = as_user(owner).post(
        "/api/users/",
        data=json.dumps({"username": username, "password": "pw-123456789", "role": "member"}),
        content_type="application/json",
    )
    assert reply.status_code == 422, reply.content
    assert not User.objects.filter(username=username).exists()


@pytest.mark.parametrize("role", [roles.EDITOR, roles.MEMBER, roles.VIEWER])
def test_api_hides_another_teams_route(role) -> None:
    alpha, beta = Team.objects.create(name="alpha"), Team.objects.create(name="beta")
    provider = Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    route = Route.objects.create(name="beta-secret")
    route.teams.set([beta])
    route.deployments.create(provider=provider, model="echo-1")
    user = User.objects.create_user("someone", password="pw-123456789")
    roles.set_role(user, role)
    roles.assign_membership(user, alpha, role)
    client = as_user(user)
    assert client.get(f"/api/routes/{route.pk}").status_code in (403, 404)
    assert client.get(f"/api/routes/{route.pk}/deployments").status_code in (403, 404)
    assert "beta-secret" not in {r["name"] for r in client.get("/api/routes/").json()}
