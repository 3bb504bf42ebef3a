"""Which claims single sign-on believes, and which usernames it creates.

A small identity provider on 127.0.0.1 (discovery, token and userinfo endpoints, no ID
token) answers the token request with a forged ``userinfo`` object claiming to be an
owner; the only identity the gateway may take is what its userinfo endpoint says to the
access token. Usernames: NFKC-normalised, control characters refused, and a new user
that looks like an existing one (``аdmin`` with a Cyrillic а) refused with a sign-in
page, an audit row, and no user created."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles, sso
from gateway.features.people import sso_users
from gateway.models import SsoLink
from gateway.models.telemetry import AuditEvent
from tests.live import free_port

FORGED = {"sub": "root", "preferred_username": "root", "groups": ["llm-owners"]}


class Provider:
    """What the fake provider answers: ``userinfo`` at its userinfo endpoint."""

    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}"
        self.userinfo: dict[str, Any] = {"sub": "eve-1", "preferred_username": "eve"}
        self.userinfo_calls: list[str] = []

    def handler(self) -> type[BaseHTTPRequestHandler]:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _json(self, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/.well-known/openid-configuration"):
                    self._json(
                        {
                            "issuer": provider.issuer,
                            "authorization_endpoint": provider.issuer + "/auth",
                            "token_endpoint": provider.issuer + "/token",
                            "userinfo_endpoint": provider.issuer + "/me",
                            "jwks_uri": provider.issuer + "/jwks",
                        }
                    )
                elif self.path.startswith("/me"):
                    provider.userinfo_calls.append(self.headers.get("Authorization", ""))
                    self._json(provider.userinfo)
                else:
                    self.send_error(404)

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                # No ID token, and a userinfo object of the token endpoint's choosing.
                self._json({"access_token": "at-1", "token_type": "Bearer", "userinfo": FORGED})

        return Handler


@pytest.fixture
def provider(monkeypatch: pytest.MonkeyPatch) -> Iterator[Provider]:
    port = free_port()
    fake = Provider(port)
    server = ThreadingHTTPServer(("127.0.0.1", port), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for name, value in {
        "SWITCHYARD_OIDC_ISSUER": fake.issuer,
        "SWITCHYARD_OIDC_CLIENT_ID": "switchyard",
        "SWITCHYARD_OIDC_CLIENT_SECRET": "client-secret",
        "SWITCHYARD_OIDC_ROLE_MAP": "llm-owners=owner",
    }.items():
        monkeypatch.setenv(name, value)
    sso.forget()
    sso_users._registry.cache_clear()
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        sso.forget()
        sso_users._registry.cache_clear()


def sign_in(client: Client) -> Any:
    start = client.get("/login/sso/")
    assert start.status_code == 302
    state = parse_qs(urlsplit(start["Location"]).query)["state"][0]
    return client.get("/login/sso/callback/", {"code": "code-1", "state": state})


def signed_in(client: Client) -> User | None:
    from django.contrib.auth import get_user

    user = get_user(type("R", (), {"session": client.session})())
    return user if user.is_authenticated else None


@pytest.mark.django_db(transaction=True)
def test_a_forged_userinfo_in_the_token_response_is_not_believed(provider) -> None:
    client = Client()
    response = sign_in(client)
    assert response.status_code == 302, response.content[:400]
    user = signed_in(client)
    assert user is not None and user.username == "eve"  # the userinfo endpoint's answer
    assert roles.role_of(user) == "member" and not user.is_superuser
    assert provider.userinfo_calls == ["Bearer at-1"]
    assert not User.objects.filter(username="root").exists()
    assert not SsoLink.objects.filter(subject="root").exists()


@pytest.mark.django_db(transaction=True)
def test_first_sign_in_is_one_audit_row_naming_the_person(provider) -> None:
    client = Client()
    assert sign_in(client).status_code == 302
    user = User.objects.get(username="eve")
    event = AuditEvent.objects.get(action="sso_provision")
    assert (event.actor_kind, event.actor, event.source) == ("user", "eve", "sso")
    assert event.object_id == str(user.pk)
    assert event.changes == {"created": True, "role": "member", "teams": []}
    # The rows of the changes provisioning made name the same person, not "anonymous".
    made = AuditEvent.objects.filter(object_type__in=("user", "role")).exclude(
        action__in=("sso_provision", "login")
    )
    assert made and {(e.actor, e.source) for e in made} == {("eve", "sso")}


@pytest.mark.django_db(transaction=True)
def test_a_look_alike_of_an_existing_user_is_refused(provider) -> None:
    User.objects.create_user("admin", password="pw-123456789")
    provider.userinfo = {"sub": "x-1", "preferred_username": "\u0430dmin"}  # Cyrillic а
    client = Client()
    response = sign_in(client)
    assert response.status_code == 403
    assert "looks like an existing account" in response.content.decode()
    assert signed_in(client) is None
    assert list(User.objects.values_list("username", flat=True)) == ["admin"]
    refused = AuditEvent.objects.get(action="login_failed")
    assert "looks like an existing account" in refused.detail


@pytest.mark.django_db(transaction=True)
def test_control_characters_in_a_username_are_refused(provider) -> None:
    provider.userinfo = {"sub": "x-2", "preferred_username": "ad\u202emin"}
    client = Client()
    response = sign_in(client)
    assert response.status_code == 403
    assert "control, format or space characters" in response.content.decode()
    assert not User.objects.exists()
    assert AuditEvent.objects.filter(action="login_failed").count() == 1


def test_usernames_are_normalised_and_checked() -> None:
    cfg = sso.SsoConfig(issuer="http://idp.test", client_id="c", client_secret="s")
    wide = sso.identity_from_claims({"sub": "1", "preferred_username": "ｅｖｅ"}, cfg)
    assert wide.username == "eve"
    for bad in ("a\x00b", "tab\tname", "a b", "x" * 151, "semi;colon"):
        with pytest.raises(sso.SsoRefused):
            sso.identity_from_claims({"sub": "1", "preferred_username": bad}, cfg)


def test_the_skeleton_finds_look_alikes_and_keeps_other_names() -> None:
    from gateway.access import usernames

    existing = ["admin", "alice"]
    for imitation in ("\u0430dmin", "ADMIN", "adm\u0131n", "a\u0501min", "adrnin", "a1ice"):
        assert usernames.look_alike(imitation, existing) is not None, imitation
    for fresh in ("admin", "bob", "alice-2", "administrator"):
        assert usernames.look_alike(fresh, existing) is None, fresh


@pytest.mark.django_db(transaction=True)
def test_the_rows_of_a_sign_in_name_the_account_not_the_claimed_username(provider) -> None:
    """L22: the rows provisioning writes named the username the claims asked for. Here
    a local owner ``eve`` exists, so the provider's ``eve`` becomes the account
    ``eve-2``: rows naming ``eve`` would put the sign-in on the owner's name. And a
    linked account whose provider name changed is still named as the account it is."""
    owner = User.objects.create_user("eve", password="pw-123456789", is_staff=True)
    client = Client()
    assert sign_in(client).status_code == 302
    account = signed_in(client)
    assert account is not None and account.username == "eve-2" and account != owner
    made = AuditEvent.objects.filter(source="sso").exclude(action="login")
    assert made.filter(object_type="role").exists()  # the path is live: rows were written
    assert {e.actor for e in made} == {"eve-2"}
    assert {e.actor_id for e in made.exclude(action="create", object_type="user")} == {
        str(account.pk)
    }

    last = AuditEvent.objects.latest("pk").pk
    provider.userinfo = {"sub": "eve-1", "preferred_username": "mallory", "groups": ["llm-owners"]}
    again = Client()
    assert sign_in(again).status_code == 302
    assert signed_in(again) == account  # found by its link, whatever the claims call it
    made = AuditEvent.objects.filter(source="sso", pk__gt=last).exclude(action="login")
    assert made.filter(object_type="role").exists() and {(e.actor, e.actor_id) for e in made} == {
        ("eve-2", str(account.pk))
    }
