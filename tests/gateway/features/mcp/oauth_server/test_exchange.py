"""RFC 8693 token exchange at ``/oauth/token`` (``oauth_server.exchange``): the surface a
``resource`` names on this gateway (``models``, ``mcp``, ``mcp:<server>``), anything else
``invalid_target``; a request without an agent token of this gateway, of another token
type or with an actor token refused before anything is minted. (The narrowing itself,
with real agent tokens, is ``tests/gateway/access/test_delegation.py``'s.)"""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.access import delegation
from gateway.features.mcp.oauth_server import exchange

BASE = "https://gw.example"


@pytest.mark.parametrize(
    ("resource", "surface"),
    [
        (BASE + "/v1", delegation.MODELS),
        (BASE + "/v1/chat/completions", delegation.MODELS),
        (BASE + "/mcp", delegation.MCP),
        (BASE + "/mcp/", delegation.MCP),
        (BASE + "/mcp/web", f"{delegation.MCP}:web"),
        ("/mcp/web", f"{delegation.MCP}:web"),  # no origin: this gateway's path
    ],
)
def test_a_resource_names_a_surface_of_this_gateway(resource: str, surface: str) -> None:
    assert exchange._surface(resource, BASE) == surface


@pytest.mark.parametrize(
    "resource", ["https://evil.example/mcp", BASE + "/admin", BASE + "/mcp/a/b", BASE + "/v10"]
)
def test_anything_else_is_an_invalid_target(resource: str) -> None:
    with pytest.raises(exchange.InvalidTarget) as refused:
        exchange._surface(resource, BASE)
    assert refused.value.error == "invalid_target"


@pytest.mark.parametrize(
    ("extra", "error", "said"),
    [
        ({"subject_token": ""}, "invalid_request", "subject_token"),
        ({"subject_token_type": "urn:x"}, "invalid_request", "subject_token_type"),
        ({"requested_token_type": "urn:x"}, "invalid_request", "only"),
        ({"actor_token": "a"}, "invalid_request", "actor tokens"),
        ({}, "invalid_grant", "not an agent token"),
    ],
)
def test_a_request_that_is_not_an_agents_exchange_is_refused(
    db, monkeypatch: pytest.MonkeyPatch, extra: dict, error: str, said: str
) -> None:
    monkeypatch.setenv("AUTHLIB_INSECURE_TRANSPORT", "1")
    form = {
        "grant_type": exchange.GRANT_TYPE,
        "subject_token": "sy-not-an-agent-token",
        "subject_token_type": exchange.ACCESS_TOKEN_TYPE,
        **extra,
    }
    answer = Client().post("/oauth/token", form)
    assert answer.status_code == 400
    assert answer.json()["error"] == error and said in answer.json()["error_description"]
