"""The sign-in page (``views/auth.py``): with single sign-on only, passwords are for the
break-glass accounts (the form refuses the rest, Django's admin too); without a
configuration the page offers no single sign-on; a misconfigured one is a message and
passwords still work; and the view is sync (Django runs it off the event loop)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import sso
from gateway.features.people import sso_users
from tests.gateway.features.people.views.test_sso import configure, signed_in_user

pytestmark = pytest.mark.django_db


def test_sso_only_keeps_passwords_for_break_glass_accounts(monkeypatch):
    configure(
        monkeypatch,
        "http://127.0.0.1:9",
        SWITCHYARD_SSO_ONLY="1",
        SWITCHYARD_SSO_BREAK_GLASS="root",
    )
    User.objects.create_user("ops", password="pw-123456789", is_staff=True)
    User.objects.create_user("root", password="pw-123456789", is_staff=True, is_superuser=True)
    client = Client()
    page = client.get("/login/").content.decode()
    assert "Sign in with 127.0.0.1:9" in page and "Break-glass" in page
    response = client.post("/login/", {"username": "ops", "password": "pw-123456789"})
    assert response.status_code == 200 and b"Password sign-in is off" in response.content
    assert signed_in_user(client) is None
    admin = client.post("/admin/login/", {"username": "ops", "password": "pw-123456789"})
    assert signed_in_user(client) is None, admin.status_code
    response = client.post("/login/", {"username": "root", "password": "pw-123456789"})
    assert response.status_code == 302 and signed_in_user(client).username == "root"
    sso.forget()
    sso_users._registry.cache_clear()


def test_without_configuration_there_is_no_sso_page(db):
    sso.forget()
    assert Client().get("/login/sso/").status_code == 404
    assert b"Sign in with" not in Client().get("/login/").content


def test_a_misconfigured_sign_on_is_a_message_and_passwords_still_work(db, monkeypatch):
    monkeypatch.setenv("SWITCHYARD_OIDC_ISSUER", "https://idp.example.com")
    monkeypatch.delenv("SWITCHYARD_OIDC_CLIENT_ID", raising=False)
    monkeypatch.setenv("SWITCHYARD_SSO_ONLY", "1")
    sso.forget()
    User.objects.create_user("ops", password="pw-123456789", is_staff=True)
    client = Client()
    page = client.get("/login/")
    assert page.status_code == 200
    assert b"Single sign-on is misconfigured" in page.content and b"CLIENT_ID" in page.content
    assert client.get("/login/sso/").status_code == 404
    response = client.post("/login/", {"username": "ops", "password": "pw-123456789"})
    assert response.status_code == 302 and signed_in_user(client) is not None
    sso.forget()


def test_the_sign_in_view_is_sync_so_django_runs_it_off_the_event_loop():
    import asyncio

    from gateway.features.people.views import auth

    assert not asyncio.iscoroutinefunction(auth.login_view)
