"""Client ID Metadata Documents in the gateway's authorization server: a client whose
``client_id`` is an https URL signs a person in with the document served there (over
real TLS on 127.0.0.1, a certificate for ``localhost`` the test trusts, loopback
allowed by ``SWITCHYARD_URL_FETCH_ALLOW`` as the other SSRF tests allow it), beside
registered clients; each bad document, URL or place is refused with a page naming
why, nothing stored; the copy is reused, then fetched again once old."""

from __future__ import annotations

import json
import re
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from gateway.core import url_fetch
from gateway.features.mcp.oauth_server import metadata_documents
from gateway.models import McpAccessToken, McpAuthorizationCode, McpOAuthClient
from tests.gateway.features.mcp.hosted.test_servers import self_signed
from tests.gateway.features.mcp.oauth_server.test_views import (
    BASE,
    REDIRECT,
    Client,
    approve,
    authorize_url,
    check,
    exchange,
    pkce,
    signed_in,
)


class Documents(BaseHTTPRequestHandler):
    """Serves ``served[path] = (content type, body)``; counts each fetch in ``hits``."""

    served: dict[str, tuple[str, bytes]] = {}
    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.hits.append(self.path)
        found = self.served.get(self.path)
        if found is None:
            self.send_response(404)
            self.end_headers()
            return
        kind, body = found
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    cert, key = self_signed(tmp_path_factory.mktemp("cimd"), "localhost")
    server = ThreadingHTTPServer(("127.0.0.1", 0), Documents)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(cert), str(key))
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://localhost:{server.server_address[1]}", cert
    server.shutdown()
    server.server_close()


@pytest.fixture
def docs(site, settings, monkeypatch) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    origin, cert = site
    settings.SWITCHYARD_URL_FETCH_ALLOW = "localhost, 127.0.0.1"
    monkeypatch.setattr(url_fetch, "VERIFY", ssl.create_default_context(cafile=str(cert)))
    monkeypatch.setattr(url_fetch, "_clients", {})
    Documents.served, Documents.hits = {}, []

    def serve(path: str, document: Any, kind: str = "application/json") -> str:
        url = origin + path
        if isinstance(document, dict) and document.get("client_id") == "SELF":
            document = {**document, "client_id": url}
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        Documents.served[path] = (kind, body)
        return url

    yield origin, serve


def good(**extra: Any) -> dict[str, Any]:
    return {
        "client_id": "SELF",
        "client_name": "Doc Agent",
        "client_uri": "https://agent.example",
        "redirect_uris": [REDIRECT],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        **extra,
    }


def test_the_metadata_says_documents_are_accepted_beside_registration(world) -> None:
    meta = Client().get("/.well-known/oauth-authorization-server").json()
    assert meta["client_id_metadata_document_supported"] is True
    assert meta["registration_endpoint"] == BASE + "/oauth/register"


def test_a_client_known_by_its_document_signs_a_person_in(world, docs) -> None:
    _, serve = docs
    client_id = serve("/agent/client.json", good())
    verifier, challenge = pkce()
    browser = signed_in(world["users"]["alice"])
    page = browser.get(authorize_url(client_id, challenge))
    assert page.status_code == 200, page.content.decode()[-600:]
    html = page.content.decode()
    assert "Doc Agent" in html and "served by <code>localhost:" in html
    answer = approve(browser, authorize_url(client_id, challenge))
    pair = exchange(client_id, answer["code"][0], verifier)
    assert pair.status_code == 200, pair.content
    checked = check(pair.json()["access_token"])
    assert checked.key is not None and checked.key.mcp_allowed == frozenset({"web__add"})
    row = McpOAuthClient.objects.get(client_id=client_id)
    assert row.client_name == "Doc Agent" and row.redirect_uris == [REDIRECT]
    assert row.metadata_fetched_at is not None
    assert McpAccessToken.objects.get().client_id == row.pk
    # fetched once: the consent page, its approval and the token reused the copy
    assert Documents.hits == ["/agent/client.json"]


def test_the_copy_is_fetched_again_once_old(world, docs, monkeypatch) -> None:
    _, serve = docs
    client_id = serve("/agent/client.json", good())
    _, challenge = pkce()
    browser = signed_in(world["users"]["alice"])
    assert browser.get(authorize_url(client_id, challenge)).status_code == 200
    serve("/agent/client.json", good(client_name="Doc Agent 2"))
    assert browser.get(authorize_url(client_id, challenge)).status_code == 200
    assert McpOAuthClient.objects.get(client_id=client_id).client_name == "Doc Agent"
    monkeypatch.setattr(metadata_documents, "CACHE_SECONDS", 0)
    page = browser.get(authorize_url(client_id, challenge))
    assert b"Doc Agent 2" in page.content
    assert McpOAuthClient.objects.get(client_id=client_id).client_name == "Doc Agent 2"
    assert len(Documents.hits) == 2
    # a document that went bad since: refused, the old copy is not used
    serve("/agent/client.json", good(client_id="https://elsewhere.example/c.json"))
    refused = browser.get(authorize_url(client_id, challenge))
    assert refused.status_code == 400 and b"client_id is not its URL" in refused.content


def test_bad_documents_urls_and_places_are_refused_naming_why(world, docs, settings) -> None:
    origin, serve = docs
    _, challenge = pkce()
    browser = signed_in(world["users"]["alice"])
    big = good(client_name="x" * (metadata_documents.MAX_BYTES + 10))
    cases = [
        (
            serve("/a.json", good(client_id="https://other.example/a.json")),
            "client_id is not its URL",
        ),
        (serve("/b.json", good(client_secret="s3cret")), "no client secret"),
        (
            serve("/c.json", good(token_endpoint_auth_method="client_secret_basic")),
            "must be public",
        ),
        (serve("/d.json", good(redirect_uris=["http://evil.example/cb"])), "redirect_uris"),
        (serve("/e.json", good(redirect_uris=[])), "names no redirect_uris"),
        (serve("/f.json", good(grant_types=["client_credentials"])), "grant_types"),
        (serve("/g.json", good(), kind="text/html"), "not one of application/json"),
        (serve("/h.json", b"{not json"), "not JSON"),
        (serve("/i.json", big), "more than"),
        (origin + "/missing.json", "answered 404"),
        (origin + "/", "must have a path"),
        (origin + "/a.json#frag", "no fragment"),
        (origin.replace("https://", "https://u:p@") + "/a.json", "no user or password"),
        (origin + "/x/../a.json", "no . or .."),
        # the document lists the redirect, the request names another
        (serve("/j.json", good()), "Redirect URI http://127.0.0.1:5555/other is not supported"),
    ]
    for client_id, why in cases:
        extra = {"redirect_uri": "http://127.0.0.1:5555/other"} if "j.json" in client_id else {}
        for method in ("get", "post"):
            url = authorize_url(client_id, challenge, **extra)
            answer = getattr(browser, method)(
                url, {"decision": "approve"} if method == "post" else None
            )
            assert answer.status_code == 400, (client_id, answer.status_code)
            text = answer.content.decode()
            alert = re.findall(r"alert error[^>]*>([^<]*)", text)
            assert "not valid" in text and why in text, (client_id, why, alert)
            assert "s3cret" not in text
    assert not McpAuthorizationCode.objects.exists()
    assert set(McpOAuthClient.objects.values_list("client_id", flat=True)) <= {
        origin + "/j.json"  # a valid document is kept; its refusal was the request's
    }
    # a document on an address the gateway may not reach (loopback, not allowed)
    settings.SWITCHYARD_URL_FETCH_ALLOW = ""
    refused = browser.get(authorize_url(serve("/k.json", good()), challenge))
    assert refused.status_code == 400
    assert b"private, loopback or link-local" in refused.content
    # an http client id is no document: an unknown client
    plain = browser.get(authorize_url(origin.replace("https", "http") + "/a.json", challenge))
    assert plain.status_code == 400 and b"not valid" in plain.content
