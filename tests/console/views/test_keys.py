"""The console's key and route forms ask the field rules as /api does (M12): below admin
a key's or a route's guardrails and tags are added, never removed; an admin removes."""

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


def key_form(world: dict, **overrides) -> dict:
    data = {
        "name": "mine",
        "team": world["team"].pk,
        "user": "mem",
        "budget_period": "month",
        "guardrails": ["strict"],
        "tags": "cost-center:42",
    }
    return {**data, **overrides}


@pytest.mark.parametrize("change", [{"guardrails": []}, {"tags": ""}, {"tags": "other"}])
def test_a_member_cannot_untick_an_admins_guardrail_or_tag(world, change) -> None:
    key = world["key"]
    reply = as_user(world["users"]["mem"]).post(f"/keys/{key.pk}/edit/", key_form(world, **change))
    assert reply.status_code == 403
    assert "not remove" in reply.content.decode()
    key.refresh_from_db()
    assert key.guardrails == ["strict"] and key.tags == ["cost-center:42"]


def test_a_member_adds_and_an_admin_removes(world) -> None:
    key = world["key"]
    added = key_form(world, guardrails=["strict", "extra"], tags="cost-center:42, mine")
    reply = as_user(world["users"]["mem"]).post(f"/keys/{key.pk}/edit/", added)
    assert reply.status_code in (200, 302), reply.content
    key.refresh_from_db()
    assert key.guardrails == ["strict", "extra"] and key.tags == ["cost-center:42", "mine"]
    cleared = key_form(world, guardrails=[], tags="")
    reply = as_user(world["users"]["admin"]).post(f"/keys/{key.pk}/edit/", cleared)
    assert reply.status_code in (200, 302), reply.content
    key.refresh_from_db()
    assert key.guardrails == [] and key.tags == []


def test_the_keys_and_routes_pages_ask_before_revoking_and_deleting(world) -> None:
    client = as_user(world["users"]["admin"])
    key, route = world["key"], world["route"]
    ApiKey.objects.filter(pk=key.pk).update(name="a<b")
    keys = client.get("/keys/").content.decode()
    assert f'hx-post="/keys/{key.pk}/revoke/" hx-target="closest tr"' in keys
    assert 'hx-confirm="Revoke a&lt;b? Clients using it stop working at once."' in keys
    routes = client.get("/routes/").content.decode()
    assert f'hx-post="/routes/{route.pk}/delete/" hx-target="closest article"' in routes
    assert 'hx-confirm="Delete route alpha-route and its deployments?"' in routes


def test_a_keys_and_a_teams_forms_draw_their_own_limits(world) -> None:
    client = as_user(world["users"]["admin"])
    key, team = world["key"], world["team"]
    for path in ("/keys/", f"/keys/{key.pk}/edit/", "/teams/", f"/teams/{team.pk}/"):
        html = client.get(path).content.decode()
        for field in ("rpm_limit", "tpm_limit", "budget_usd", "budget_period"):
            assert f'name="{field}"' in html, (path, field)
