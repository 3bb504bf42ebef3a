"""The sign-in settings page (#43, owners): single sign-on as the environment sets it,
the client secret masked, the callback URL to register, the claim maps in force; "Test
discovery" fetches the configured issuer's discovery document through the guarded
fetch: a real OpenID provider on 127.0.0.1 passes, a wrong issuer is named, and a
redirect to another host on the gateway's own network is refused."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles, sso
from tests.live import free_port
from tests.oidc_provider import CLIENT_ID, needs_provider, oidc_provider

pytestmark = pytest.mark.django_db
SECRET = "literal-client-secret-Zq81"


@pytest.fixture
def owner() -> Client:
    user = User.objects.create_user("owner", password="pw-123456789")
    roles.set_role(user, "owner")
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def configure(monkeypatch) -> Iterator:
    def set_env(issuer: str, **extra: str) -> None:
        env = {
            "SWITCHYARD_OIDC_ISSUER": issuer,
            "SWITCHYARD_OIDC_CLIENT_ID": CLIENT_ID,
            "SWITCHYARD_OIDC_CLIENT_SECRET": SECRET,
            "SWITCHYARD_OIDC_ROLE_MAP": "llm-admins=admin,llm-owners=owner",
            "SWITCHYARD_OIDC_TEAM_MAP": "team-red=red",
            "SWITCHYARD_OIDC_DEFAULT_ROLE": "none",
            **extra,
        }
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        sso.forget()

    yield set_env
    sso.forget()


def test_off_it_says_how_to_turn_it_on(owner) -> None:
    sso.forget()
    page = owner.get("/settings/sign-in/").content.decode()
    assert "Single sign-on is off" in page
    assert 'aria-label="Callback URL">http://testserver/login/sso/callback/</textarea>' in page
    assert "Test discovery" not in page


def test_on_it_shows_the_environment_with_the_secret_masked(owner, configure) -> None:
    configure("https://idp.example.com/realms/acme")
    page = owner.get("/settings/sign-in/").content.decode()
    assert "Single sign-on is on" in page and "Sign in with idp.example.com" in page
    assert SECRET not in page and "set (hidden)" in page
    assert '<code>llm-admins</code></td><td><span class="pill">admin</span>' in page
    assert '<span class="pill off">refused</span>' in page  # the default role: none
    assert "created at the first sign-in" in page  # team "red" does not exist yet
    assert 'aria-label="Callback URL">http://testserver/login/sso/callback/</textarea>' in page
    assert "https://idp.example.com/realms/acme/.well-known/openid-configuration" in page


def test_a_secret_reference_and_a_redirect_uri_are_shown(owner, configure, monkeypatch) -> None:
    monkeypatch.setenv("IDP_SECRET", SECRET)
    configure(
        "https://idp.example.com",
        SWITCHYARD_OIDC_CLIENT_SECRET="os.environ/IDP_SECRET",
        SWITCHYARD_OIDC_REDIRECT_URI="https://llm.example.com/login/sso/callback/",
    )
    page = owner.get("/settings/sign-in/").content.decode()
    assert "os.environ/IDP_SECRET" in page and SECRET not in page
    assert (
        'aria-label="Callback URL">https://llm.example.com/login/sso/callback/</textarea>' in page
    )


def test_misconfigured_is_a_message_not_a_500(owner, configure) -> None:
    configure("https://idp.example.com", SWITCHYARD_OIDC_ROLE_MAP="llm-admins=superuser")
    reply = owner.get("/settings/sign-in/")
    assert reply.status_code == 200
    assert b"Single sign-on is misconfigured" in reply.content and b"superuser" in reply.content


def test_only_owners_open_it(configure) -> None:
    admin = User.objects.create_user("admin", password="pw-123456789")
    roles.set_role(admin, "admin")
    client = Client()
    client.force_login(admin)
    assert client.get("/settings/sign-in/").status_code == 403
    assert client.post("/settings/sign-in/discovery/").status_code == 403


@contextmanager
def serving(routes: dict[str, tuple[int, dict, bytes]]) -> Iterator[int]:
    """A tiny HTTP server on 127.0.0.1 answering ``routes`` (path -> status, headers, body)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            status, headers, body = routes.get(self.path, (404, {}, b""))
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


WELL_KNOWN = "/.well-known/openid-configuration"


def discovery(issuer: str, **extra: object) -> bytes:
    return json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/auth",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
            "claims_supported": ["sub", "email", "groups"],
            "scopes_supported": ["openid", "email", "profile"],
            **extra,
        }
    ).encode()


def test_discovery_names_a_wrong_issuer(owner, configure) -> None:
    json_type = {"Content-Type": "application/json; charset=utf-8"}
    routes = {WELL_KNOWN: (200, json_type, discovery("https://elsewhere.example.com"))}
    with serving(routes) as port:
        configure(f"http://127.0.0.1:{port}")
        reply = owner.post("/settings/sign-in/discovery/", HTTP_HX_REQUEST="true")
    body = reply.content.decode()
    assert body.lstrip().startswith('<div id="discovery"')  # the result alone, for htmx
    assert "not the configured" in body and "elsewhere.example.com" in body
    assert "answers and fits" not in body


def test_discovery_of_a_fitting_document(owner, configure) -> None:
    json_type = {"Content-Type": "application/json"}
    routes: dict = {}
    with serving(routes) as port:
        issuer = f"http://127.0.0.1:{port}"
        routes[WELL_KNOWN] = (200, json_type, discovery(issuer))
        configure(issuer, SWITCHYARD_OIDC_SCOPES="openid email groups")
        reply = owner.post("/settings/sign-in/discovery/")  # no JavaScript: the whole page
    body = reply.content.decode()
    assert "<h1>Sign-in settings</h1>" in body
    assert "answers and fits this configuration" in body
    assert f"{issuer}/token" in body and "jwks_uri" in body
    assert "scopes not in scopes_supported: groups" in body


def test_discovery_refuses_a_redirect_into_the_gateways_network(owner, configure) -> None:
    """The issuer's own host is trusted (the operator set it); a redirect to another
    host that resolves to a private address is not followed."""
    with serving({WELL_KNOWN: (200, {"Content-Type": "application/json"}, b"{}")}) as inner:
        routes = {WELL_KNOWN: (302, {"Location": f"http://localhost:{inner}{WELL_KNOWN}"}, b"")}
        with serving(routes) as port:
            configure(f"http://127.0.0.1:{port}")
            body = owner.post("/settings/sign-in/discovery/", HTTP_HX_REQUEST="true").content
    assert b"Could not fetch the discovery document" in body
    assert b"localhost is a private, loopback or link-local address" in body


def test_discovery_of_an_unreachable_issuer(owner, configure) -> None:
    configure(f"http://127.0.0.1:{free_port()}")
    body = owner.post("/settings/sign-in/discovery/", HTTP_HX_REQUEST="true").content
    assert b"could not be reached" in body


@needs_provider
def test_discovery_of_a_real_provider(owner, configure, tmp_path) -> None:
    with oidc_provider(free_port(), ["http://testserver/login/sso/callback/"], tmp_path) as issuer:
        configure(issuer)
        body = owner.post("/settings/sign-in/discovery/", HTTP_HX_REQUEST="true").content.decode()
    assert "answers and fits this configuration" in body, body
    assert "authorization_endpoint" in body and "token_endpoint" in body
