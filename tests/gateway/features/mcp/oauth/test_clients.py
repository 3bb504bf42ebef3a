"""Who the gateway is to an authorization server (``oauth.clients``): the entry's own
pre-registered client (its auth method chosen from what the server supports), the one
registered before for that issuer and redirect URI, or a new dynamic registration
(answered in process by ``httpx2.MockTransport``) kept for next time; a server without
registration, or one that refuses it, said in a message naming the server."""

from __future__ import annotations

import dataclasses
import json

import httpx2
import pytest
from mcp.shared.auth import OAuthMetadata

from gateway.base.entries import McpServerEntry
from gateway.features.mcp.oauth import clients, store
from gateway.features.mcp.oauth.discovery import Discovered
from gateway.models import McpServer

ISSUER = "https://as.example/"
REDIRECT = "https://gw.example/mcp-connections/callback/"


def discovered(registration: bool = True, methods: list[str] | None = None) -> Discovered:
    metadata = OAuthMetadata(
        issuer=ISSUER,
        authorization_endpoint="https://as.example/authorize",
        token_endpoint="https://as.example/token",
        registration_endpoint="https://as.example/register" if registration else None,
        token_endpoint_auth_methods_supported=methods,
    )
    return Discovered(
        resource="https://mcp.example/mcp", issuer=ISSUER, metadata=metadata, scopes="files"
    )


def entry(server_id: int = 3, **fields) -> McpServerEntry:  # type: ignore[no-untyped-def]
    base = McpServerEntry(
        id=server_id, name="files", transport="streamable_http", url="https://mcp.example/mcp",
        headers=(), bearer="", command="", args=(), env=(), enabled=True,
        connect_timeout=5.0, call_timeout=5.0, oauth="per_user",
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def registrar(answer: httpx2.Response, asked: list) -> httpx2.AsyncClient:
    def handle(request: httpx2.Request) -> httpx2.Response:
        asked.append(json.loads(request.content))
        return answer

    return httpx2.AsyncClient(transport=httpx2.MockTransport(handle))


async def test_a_preregistered_client_takes_the_method_the_server_supports() -> None:
    http = registrar(httpx2.Response(500), [])
    public = await clients.client_for(entry(oauth_client_id="pre"), discovered(), REDIRECT, http)
    assert public == store.Client("pre", "", "none")
    confidential = entry(oauth_client_id="pre", oauth_client_secret="s3cret")
    post_only = discovered(methods=["client_secret_post"])
    assert (
        await clients.client_for(confidential, post_only, REDIRECT, http)
    ).auth_method == "client_secret_post"
    both = discovered(methods=["client_secret_post", "client_secret_basic"])
    assert (
        await clients.client_for(confidential, both, REDIRECT, http)
    ).auth_method == "client_secret_basic"


@pytest.fixture
async def row(transactional_db) -> McpServer:
    return await McpServer.objects.acreate(
        name="files", url="https://mcp.example/mcp", oauth="per_user"
    )


async def test_a_new_registration_is_made_once_and_kept(row) -> None:
    asked: list = []
    answer = httpx2.Response(
        201,
        json={
            "client_id": "dyn-1",
            "client_secret": "dyn-secret",
            "redirect_uris": [REDIRECT],
            "token_endpoint_auth_method": "client_secret_post",
        },
    )
    made = await clients.client_for(entry(row.pk), discovered(), REDIRECT, registrar(answer, asked))
    assert made == store.Client("dyn-1", "dyn-secret", "client_secret_post")
    assert asked[0]["client_name"] == clients.CLIENT_NAME
    assert asked[0]["redirect_uris"] == [REDIRECT] and asked[0]["scope"] == "files"
    again = await clients.client_for(
        entry(row.pk), discovered(), "", registrar(httpx2.Response(500), asked)
    )
    assert again == made and len(asked) == 1  # a refresh takes the one registered


async def test_no_registration_to_be_had_is_said(row) -> None:
    http = registrar(httpx2.Response(500), [])
    with pytest.raises(clients.RegistrationFailed, match="MCP server files: no client registered"):
        await clients.client_for(entry(row.pk), discovered(), "", http)
    with pytest.raises(clients.RegistrationFailed, match="offers no dynamic client registration"):
        await clients.client_for(entry(row.pk), discovered(registration=False), REDIRECT, http)
    refused = registrar(httpx2.Response(400, json={"error": "invalid_client_metadata"}), [])
    with pytest.raises(clients.RegistrationFailed, match="refused to register the gateway"):
        await clients.client_for(entry(row.pk), discovered(), REDIRECT, refused)
    assert await store.registered_client(row.pk, ISSUER, REDIRECT) is None


async def test_the_oauth_client_uses_pkce_and_the_clients_method() -> None:
    oauth = clients.oauth_client(
        "https://mcp.example/mcp", store.Client("id", "sec", "client_secret_post")
    )
    async with oauth:
        assert oauth.client_id == "id" and oauth.client_secret == "sec"
        assert oauth.code_challenge_method == "S256"
        assert oauth.token_endpoint_auth_method == "client_secret_post"
        assert not oauth.follow_redirects
    public = clients.oauth_client("https://mcp.example/mcp", store.Client("id", "", ""))
    async with public:
        assert public.client_secret is None and public.token_endpoint_auth_method == "none"
