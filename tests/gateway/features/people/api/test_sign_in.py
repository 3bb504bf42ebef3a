"""Single sign-on through /api (#66), as the console's page: owners read what is in force
and change the console's settings, the client secret never shown, every refused field
named at once; admins are refused; the environment wins where set."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles, sso
from gateway.models import SsoSettings

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_env")]
SECRET = "api-client-secret-Hh42"


def as_role(role: str) -> Client:
    user = User.objects.create_user(role, password="pw-123456789")
    roles.set_role(user, role)
    client = Client()
    client.force_login(user)
    return client


def patch(client: Client, body: dict) -> tuple[int, dict]:
    reply = client.patch("/api/sign-in/", data=json.dumps(body), content_type="application/json")
    return reply.status_code, reply.json()


def test_an_owner_sets_it_and_reads_it_back_without_the_secret() -> None:
    owner = as_role("owner")
    assert owner.get("/api/sign-in").json()["enabled"] is False
    status, body = patch(
        owner,
        {
            "issuer": "https://idp.example.com/",
            "client_id": "gw",
            "client_secret": SECRET,
            "role_map": {"llm-admins": "admin"},
            "team_map": "team-red=Red, team-blue=Blue",
        },
    )
    assert status == 200, body
    assert body["enabled"] and body["issuer"] == "https://idp.example.com"
    assert body["client_secret_set"] and SECRET not in json.dumps(body)
    assert body["role_map"] == {"llm-admins": "admin"}
    assert body["team_map"] == {"team-red": "Red", "team-blue": "Blue"}
    assert body["default_role"] == "member" and body["from_environment"] == []
    assert SECRET not in owner.get("/api/sign-in/").content.decode()
    assert SECRET not in SsoSettings.objects.get(pk=1).client_secret_ciphertext


def test_every_refused_field_at_once_and_nothing_saved() -> None:
    status, body = patch(
        as_role("owner"),
        {
            "issuer": "ftp://idp.example.com",
            "scopes": "email",
            "role_map": {"x": "emperor"},
            "default_role": "king",
        },
    )
    assert status == 422
    assert set(body["errors"]) >= {"issuer", "scopes", "role_map", "default_role"}
    assert not SsoSettings.objects.exclude(issuer="").exists()


def test_the_environment_wins_and_is_named(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("SWITCHYARD_OIDC_ISSUER", "https://env.example.org")
    sso.forget()
    status, body = patch(
        as_role("owner"), {"issuer": "https://mine.example.com", "client_id": "gw"}
    )
    assert status == 200, body
    assert body["issuer"] == "https://env.example.org" and body["from_environment"] == ["issuer"]


@pytest.mark.parametrize("role", ["admin", "member"])
def test_below_owner_it_is_refused(role: str) -> None:
    client = as_role(role)
    assert client.get("/api/sign-in/").status_code == 403
    status, _ = patch(client, {"issuer": "https://idp.example.com", "client_id": "gw"})
    assert status == 403 and not SsoSettings.objects.exists()
