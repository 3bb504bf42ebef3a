"""The gateway's addresses as an OAuth protected resource and authorization server
(``oauth_server.resources``): the issuer (``SWITCHYARD_PUBLIC_URL`` or the request's own
origin), the metadata documents, which paths are resources, the ``resource`` check
(RFC 8707) and which paths a token's resource covers."""

from __future__ import annotations

import pytest
from django.test import RequestFactory

from gateway.features.mcp.oauth_server import resources

BASE = "https://gw.example"


def test_the_issuer_is_the_configured_url_or_the_requests_origin(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SWITCHYARD_PUBLIC_URL", raising=False)
    scope = {"scheme": "https", "headers": [(b"host", b"gw.example:8443")]}
    assert resources.base_from_scope(scope) == "https://gw.example:8443"
    assert resources.base_from_scope({"server": ("10.0.0.5", 8000)}) == "http://10.0.0.5:8000"
    assert resources.base_from_scope({"scheme": "https", "server": ("gw", 443)}) == "https://gw"
    request = RequestFactory().get("/x", HTTP_HOST="console.example")
    assert resources.base_from_request(request) == "http://console.example"
    monkeypatch.setenv("SWITCHYARD_PUBLIC_URL", " https://public.example/ ")
    assert resources.base_from_scope(scope) == "https://public.example"
    assert resources.base_from_request(request) == "https://public.example"


def test_only_mcp_and_one_servers_path_are_resources() -> None:
    assert resources.mcp_path("/mcp") == "/mcp"
    assert resources.mcp_path("/mcp/") == "/mcp"
    assert resources.mcp_path("/mcp/web") == "/mcp/web"
    assert resources.mcp_path("/mcp/web/") == "/mcp/web"
    for other in (
        "/",
        "/mcpx",
        "/mcp/a__b",
        "/mcp/web/more",
        "/mcp/-web",
        "/v1/mcp",
        "/mcp/" + "a" * 64,
    ):
        assert resources.mcp_path(other) is None, other


def test_the_metadata_names_this_gateway() -> None:
    assert (
        resources.resource_metadata_url(BASE, "/mcp/web")
        == BASE + "/.well-known/oauth-protected-resource/mcp/web"
    )
    assert (
        resources.resource_metadata_url(BASE, "/elsewhere")
        == BASE + "/.well-known/oauth-protected-resource/mcp"
    )
    prm = resources.protected_resource(BASE, "/mcp/web")
    assert prm["resource"] == BASE + "/mcp/web" and prm["authorization_servers"] == [BASE]
    assert resources.protected_resource(BASE, "/nope")["resource"] == BASE + "/mcp"
    meta = resources.authorization_server(BASE)
    assert meta["issuer"] == BASE and meta["token_endpoint"] == BASE + "/oauth/token"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "urn:ietf:params:oauth:grant-type:token-exchange" in meta["grant_types_supported"]


def test_a_resource_must_name_this_gateways_mcp() -> None:
    assert resources.checked_resource(None, BASE) == BASE + "/mcp"  # absent: all of /mcp
    assert resources.checked_resource(BASE + "/mcp/", BASE) == BASE + "/mcp"
    assert resources.checked_resource(BASE + "/mcp/web", BASE) == BASE + "/mcp/web"
    for refused in (
        "https://evil.example/mcp",
        "http://gw.example/mcp",  # another scheme is another origin
        BASE + "/v1",
        BASE + "/mcp?x=1",
        BASE + "/mcp#frag",
    ):
        assert resources.checked_resource(refused, BASE) is None, refused


def test_a_token_for_mcp_covers_every_server_one_for_a_server_only_its_own() -> None:
    assert resources.covers(BASE + "/mcp", "/mcp/web")
    assert resources.covers(BASE + "/mcp", "/mcp")
    assert resources.covers(BASE + "/mcp/web", "/mcp/web")
    assert not resources.covers(BASE + "/mcp/web", "/mcp/local")
    assert not resources.covers(BASE + "/mcp/web", "/mcp")
    assert not resources.covers(BASE + "/v1", "/mcp")
    assert not resources.covers(BASE + "/mcp", "/v1/chat")
