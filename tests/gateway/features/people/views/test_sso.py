"""Single sign-on against a real OpenID provider on 127.0.0.1 (``tests/oidc_provider``):
the whole authorization-code flow with PKCE through the console's views, claims mapped
to a role, a user created once and found again by the provider's subject, and every
kind of bad answer (tampered state, a nonce that does not match, a provider that is
down) refused with a readable page, never a 500 nor a session. The sign-in page's
own cases (SSO-only mode, none configured, misconfigured): ``test_auth.py``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles, sso
from gateway.features.people import sso_users
from gateway.models import Membership, SsoLink, Team
from gateway.models.telemetry import AuditEvent
from tests.live import free_port
from tests.oidc_provider import (
    CLIENT_ID,
    CLIENT_SECRET,
    needs_provider,
    oidc_provider,
    sign_in_at_provider,
)

pytestmark = [needs_provider, pytest.mark.django_db(transaction=True)]
CALLBACK = "http://testserver/login/sso/callback/"


def configure(monkeypatch: pytest.MonkeyPatch, issuer: str, **extra: str) -> None:
    env = {
        "SWITCHYARD_OIDC_ISSUER": issuer,
        "SWITCHYARD_OIDC_CLIENT_ID": CLIENT_ID,
        "SWITCHYARD_OIDC_CLIENT_SECRET": "os.environ/TEST_OIDC_SECRET",
        "TEST_OIDC_SECRET": CLIENT_SECRET,
        "SWITCHYARD_OIDC_SCOPES": "openid email profile groups",
        "SWITCHYARD_OIDC_ROLE_MAP": "llm-admins=admin,llm-owners=owner",
        "SWITCHYARD_OIDC_TEAM_MAP": "team-red=Red,team-blue=Blue",
        **extra,
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    sso.forget()
    sso_users._registry.cache_clear()


@pytest.fixture
def provider(tmp_path, monkeypatch):
    with oidc_provider(free_port(), [CALLBACK], tmp_path) as issuer:
        configure(monkeypatch, issuer)
        yield issuer
    sso.forget()
    sso_users._registry.cache_clear()


def start(client: Client, next_url: str = "") -> str:
    response = client.get("/login/sso/" + (f"?next={next_url}" if next_url else ""))
    assert response.status_code == 302, response.content[:500]
    return response["Location"]


def finish(client: Client, back: str):
    parts = urlsplit(back)
    return client.get(parts.path, dict(parse_qs(parts.query, keep_blank_values=True)))


def signed_in_user(client: Client) -> User | None:
    from django.contrib.auth import get_user

    request = type("R", (), {"session": client.session})()
    user = get_user(request)
    return user if user.is_authenticated else None


def test_sign_in_with_pkce_creates_the_user_once_and_maps_the_role(provider):
    client = Client()
    authorize = start(client, "/logs/")
    query = parse_qs(urlsplit(authorize).query)
    assert authorize.startswith(provider + "/auth")
    assert query["code_challenge_method"] == ["S256"] and query["code_challenge"][0]
    assert query["nonce"][0] and query["state"][0]
    assert "openid" in query["scope"][0].split()

    back = sign_in_at_provider(authorize, "alice", CALLBACK)
    response = finish(client, back)
    assert response.status_code == 302 and response["Location"] == "/logs/"
    user = signed_in_user(client)
    assert user is not None and user.username == "alice"
    assert user.email == "alice@example.com" and not user.is_superuser
    assert roles.role_of(user) == "admin"  # groups: llm-admins
    assert list(Membership.objects.filter(user=user).values_list("team__name", "role")) == [
        ("Red", "editor")  # groups: team-red
    ]
    assert not user.has_usable_password()
    link = SsoLink.objects.get(user=user)
    assert (link.issuer, link.subject) == (provider, "alice")
    assert client.get("/").status_code == 200  # the console opens

    again = Client()
    finish(again, sign_in_at_provider(start(again), "alice", CALLBACK))
    assert signed_in_user(again) == user
    assert User.objects.filter(email="alice@example.com").count() == 1


def test_a_provider_account_never_becomes_a_local_one_of_the_same_name(provider):
    local = User.objects.create_user("alice", password="local-pw-123456", is_superuser=True)
    client = Client()
    finish(client, sign_in_at_provider(start(client), "alice", CALLBACK))
    user = signed_in_user(client)
    assert user is not None and user != local and user.username == "alice-2"


def test_the_highest_mapped_role_wins_and_unmapped_users_get_the_default(provider, monkeypatch):
    configure(monkeypatch, provider, SWITCHYARD_OIDC_ROLE_MAP="team-blue=owner")
    client = Client()
    finish(client, sign_in_at_provider(start(client), "bob", CALLBACK))
    bob = signed_in_user(client)
    assert bob.is_superuser and roles.role_of(bob) == "owner"
    assert Team.objects.filter(name="Blue", memberships__user=bob).exists()

    configure(monkeypatch, provider, SWITCHYARD_OIDC_DEFAULT_ROLE="none")
    client = Client()
    response = finish(client, sign_in_at_provider(start(client), "mallory", CALLBACK))
    assert response.status_code == 403
    assert b"no role on this gateway" in response.content
    assert signed_in_user(client) is None


def test_a_tampered_state_is_refused(provider):
    client = Client()
    back = sign_in_at_provider(start(client), "alice", CALLBACK)
    parts = urlsplit(back)
    query = parse_qs(parts.query)
    query["state"] = ["forged-state"]
    response = client.get(parts.path, {k: v[0] for k, v in query.items()})
    assert response.status_code == 400
    assert b"could not be verified" in response.content
    assert signed_in_user(client) is None
    assert not User.objects.filter(username="alice").exists()
    event = AuditEvent.objects.filter(action="login_failed").latest("id")
    assert "state did not match" in event.detail and event.source == "sso"


def test_a_nonce_that_does_not_match_the_id_token_is_refused(provider):
    client = Client()
    authorize = start(client)
    state = parse_qs(urlsplit(authorize).query)["state"][0]
    session = client.session
    key = next(k for k in session.keys() if state in k)  # noqa: SIM118 (a session is no dict)
    stored = session[key]
    stored["data"]["nonce"] = "not-the-nonce-sent"
    session[key] = stored
    session.save()
    response = finish(client, sign_in_at_provider(authorize, "alice", CALLBACK))
    assert response.status_code == 400
    assert b"did not verify (invalid_claim" in response.content, response.content.decode()[-1500:]
    assert signed_in_user(client) is None


def test_a_code_replayed_with_another_browser_is_refused(provider):
    first = Client()
    back = sign_in_at_provider(start(first), "alice", CALLBACK)
    thief = Client()
    start(thief)  # a session of its own, with another state and code verifier
    response = finish(thief, back)
    assert response.status_code == 400 and signed_in_user(thief) is None


def test_a_provider_that_is_down_gives_a_readable_page_and_passwords_still_work(monkeypatch):
    configure(monkeypatch, f"http://127.0.0.1:{free_port()}")
    User.objects.create_user("owner", password="pw-123456789", is_staff=True)
    client = Client()
    response = client.get("/login/sso/")
    assert response.status_code == 502
    assert b"could not be reached" in response.content
    assert b'name="password"' in response.content
    response = client.post("/login/", {"username": "owner", "password": "pw-123456789"})
    assert response.status_code == 302 and signed_in_user(client) is not None
    sso.forget()
    sso_users._registry.cache_clear()
