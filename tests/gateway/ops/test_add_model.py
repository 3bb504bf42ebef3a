"""Add a model in one step: the provider (existing or new, with its secret), the route
and its deployment saved together or not at all, every part's field errors at once, and a
new provider only for those who may change providers. (The console's form over it:
tests/console/views/test_add_model.py.)"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from gateway.access import roles
from gateway.access.authorization import Denied
from gateway.models import AuditEvent, Deployment, Provider, Route, Team
from gateway.ops.add_model import AddModelErrors, NewProvider, add_model

pytestmark = pytest.mark.django_db

SECRET = "sk-add-model-unit-7f3a"


def actor(role: str):
    user = User.objects.create_user(f"u-{role}")
    roles.set_role(user, role)
    return roles.actor_for_user(user)


def rows() -> tuple[int, int, int]:
    return Provider.objects.count(), Route.objects.count(), Deployment.objects.count()


def test_a_new_provider_route_and_deployment_are_made_together_and_audited():
    new = NewProvider(
        {"name": "local", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"}, SECRET
    )
    added = add_model(actor("owner"), new, {"name": "chat"}, {"model": "m1"})
    assert (added.provider.name, added.route.name, added.deployment.model) == (
        "local",
        "chat",
        "m1",
    )
    assert added.deployment.route == added.route and added.deployment.provider == added.provider
    assert rows() == (1, 1, 1)
    assert {e.object_type for e in AuditEvent.objects.all()} >= {"provider", "route", "deployment"}


def test_an_existing_provider_and_the_routes_teams():
    echo = Provider.objects.create(name="echo", kind="echo")
    team = Team.objects.create(name="alpha")
    added = add_model(actor("admin"), echo, {"name": "chat"}, {"model": "echo-1"}, teams=[team])
    assert added.provider == echo and list(added.route.teams.all()) == [team]


def test_every_parts_errors_at_once_and_nothing_written():
    new = NewProvider({"name": "bad name", "kind": "openai"})
    owner = actor("owner")
    audited = AuditEvent.objects.count()
    with pytest.raises(AddModelErrors) as caught:
        add_model(owner, new, {"name": "has spaces"}, {"model": "", "nonsense": 1})
    assert set(caught.value.errors) == {"provider", "route", "deployment"}
    assert "name" in caught.value.errors["provider"] and "name" in caught.value.errors["route"]
    assert caught.value.errors["deployment"] == {"nonsense": ["unknown field"]}
    assert rows() == (0, 0, 0) and AuditEvent.objects.count() == audited


def test_a_later_part_failing_rolls_back_the_saved_ones():
    new = NewProvider({"name": "fresh", "kind": "openai", "base_url": "http://127.0.0.1:9/v1"})
    with pytest.raises(AddModelErrors) as caught:
        add_model(
            actor("owner"), new, {"name": "fresh"}, {"model": "m1", "params": "not an object"}
        )
    assert caught.value.errors == {"deployment": {"params": ["must be an object"]}}
    assert rows() == (0, 0, 0)


def test_only_those_who_change_providers_make_one():
    Provider.objects.create(name="echo", kind="echo")
    with pytest.raises(Denied):
        add_model(
            actor("editor"),
            NewProvider({"name": "x", "kind": "echo"}),
            {"name": "r"},
            {"model": "m"},
        )
    assert rows() == (1, 0, 0)
