"""The console's route form asks the field rules as /api does (M12): below admin a
route's guardrails are added, never removed."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import ApiKey, Guardrail, Route, Team

pytestmark = pytest.mark.django_db

WORDS = {"blocked_words": [{"keyword": "x", "action": "BLOCK"}]}


@pytest.fixture
def world() -> dict:
    team = Team.objects.create(name="alpha")
    for name in ("strict", "extra"):
        Guardrail.objects.create(
            name=name, kind="litellm_content_filter", modes=["pre_call"], params=WORDS
        )
    users = {}
    for name, role in (("admin", "admin"), ("ed", "editor"), ("mem", "member")):
        users[name] = User.objects.create_user(name, password="pw-123456789")
        roles.set_role(users[name], role)
    for name in ("ed", "mem"):
        roles.assign_membership(users[name], team, users[name].switchyard.role)
    key = ApiKey.objects.create(
        name="mine", prefix="sy-mine", key_hash="m" * 64, user=users["mem"], team=team,
        guardrails=["strict"], tags=["cost-center:42"],
    )  # fmt: skip
    route = Route.objects.create(name="alpha-route", guardrails=["strict"])
    route.teams.set([team])
    return {"team": team, "users": users, "key": key, "route": route}


def as_user(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def route_form(**overrides) -> dict:
    data = {
        "name": "alpha-route",
        "enabled": "on",
        "strategy": "weighted",
        "max_attempts": "2",
        "teams": ["alpha"],
        "guardrails": ["strict"],
    }
    return {**data, **overrides}


def test_an_editor_cannot_untick_a_routes_guardrail_but_adds_one(world) -> None:
    route, editor = world["route"], as_user(world["users"]["ed"])
    refused = editor.post(f"/routes/{route.pk}/", route_form(guardrails=[]))
    assert refused.status_code == 403 and "guardrails" in refused.content.decode()
    route.refresh_from_db()
    assert route.guardrails == ["strict"]
    added = editor.post(f"/routes/{route.pk}/", route_form(guardrails=["strict", "extra"]))
    assert added.status_code in (200, 302), added.content
    route.refresh_from_db()
    assert route.guardrails == ["strict", "extra"]
