"""Django's admin as the console sets it up (``console.admin``): open to staff who are
owners only (a staff user with a lesser console role is sent to sign in), a provider's
secret written encrypted through its form (blank keeps the one set), a route's deployments
on its page (their provider menu read once), and a route that is some key's only
allowed route listed as protected when it is deleted."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from console.admin import ProviderAdminForm
from gateway.access import roles
from gateway.models import ApiKey, Deployment, Provider, Route

pytestmark = pytest.mark.django_db


def staff_of(role: str) -> Client:
    user = User.objects.create_superuser(role, password="pw-123456789")  # every model perm
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


def test_only_owners_reach_the_admin() -> None:
    assert staff_of("owner").get("/admin/gateway/route/").status_code == 200
    refused = staff_of("admin").get("/admin/gateway/route/")
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]


def test_the_provider_form_keeps_the_secret_unless_a_new_one_is_given() -> None:
    data = {"name": "up", "kind": "openai", "base_url": "https://api.example.com/v1",
            "api_version": "", "timeout": 30}  # fmt: skip
    form = ProviderAdminForm({**data, "secret": "sk-first"})
    assert form.is_valid(), form.errors
    provider = form.save()
    provider.refresh_from_db()
    assert provider.stored_secret() == "sk-first"
    assert "sk-first" not in str(Provider.objects.filter(pk=provider.pk).values().get())
    kept = ProviderAdminForm({**data, "secret": ""}, instance=provider).save()
    kept.refresh_from_db()
    assert kept.stored_secret() == "sk-first"
    unsaved = ProviderAdminForm({**data, "secret": "sk-second"}, instance=provider).save(
        commit=False
    )
    assert unsaved.stored_secret() == "sk-second"
    assert Provider.objects.get(pk=provider.pk).stored_secret() == "sk-first"  # not saved


def test_deleting_a_keys_only_route_is_protected() -> None:
    only = Route.objects.create(name="only")
    shared = Route.objects.create(name="shared")
    narrow = ApiKey.objects.create(name="narrow", prefix="sy-n", key_hash="a" * 64)
    narrow.routes.set([only])
    wide = ApiKey.objects.create(name="wide", prefix="sy-w", key_hash="b" * 64)
    wide.routes.set([only, shared])
    owner = staff_of("owner")
    page = owner.get(f"/admin/gateway/route/{only.pk}/delete/").content.decode()
    assert "API key narrow (its only allowed route is only)" in page
    assert "API key wide" not in page
    free = owner.get(f"/admin/gateway/route/{shared.pk}/delete/").content.decode()
    assert "its only allowed route" not in free


def test_each_of_a_routes_deployments_shows_its_own_provider() -> None:
    """The provider menu is read once for every deployment's row: each row still has its
    own provider chosen, and every provider to choose from."""
    first, second = (Provider.objects.create(name=n, kind="echo") for n in ("first", "second"))
    route = Route.objects.create(name="r")
    rows = [Deployment.objects.create(route=route, provider=p, model="m") for p in (first, second)]
    page = staff_of("owner").get(f"/admin/gateway/route/{route.pk}/change/").content.decode()
    for n, row in enumerate(rows):
        menu = page.split(f'name="deployments-{n}-provider"')[1].split("</select>")[0]
        assert f'<option value="{row.provider_id}" selected>' in menu
        assert menu.count(" selected>") == 1 and menu.count("<option") == 3  # and "---------"
