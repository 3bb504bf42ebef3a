"""Where a server's OAuth lives (``oauth.discovery``), against an upstream answered in
process (``httpx2.MockTransport``): the 401's resource metadata names the authorization
server, whose metadata gives the endpoints; a configured issuer skips the probe; a
server that does not ask for OAuth, metadata naming another resource or issuer, or no
PKCE S256 are refused with a message naming the server; what is found is kept."""

from __future__ import annotations

import httpx2
import pytest

from gateway.base.entries import McpServerEntry, OAuthTarget
from gateway.features.mcp.oauth import discovery

URL = "https://mcp.example/mcp"
ISSUER = "https://as.example"


def server() -> McpServerEntry:
    return McpServerEntry(
        id=3, name="files", transport="streamable_http", url=URL, headers=(), bearer="",
        command="", args=(), env=(), enabled=True, connect_timeout=5.0, call_timeout=5.0,
    )  # fmt: skip


def as_metadata(issuer: str = ISSUER, pkce: tuple[str, ...] = ("S256",)) -> dict:
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{ISSUER}/authorize",
        "token_endpoint": f"{ISSUER}/token",
        "registration_endpoint": f"{ISSUER}/register",
        "revocation_endpoint": f"{ISSUER}/revoke",
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": list(pkce),
        "scopes_supported": ["files.read"],
    }


class Upstream:
    def __init__(self, status: int = 401, resource: str = URL, **metadata) -> None:  # type: ignore[no-untyped-def]
        self.status, self.resource, self.metadata = status, resource, as_metadata(**metadata)
        self.asked: list[str] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.asked.append(f"{request.method} {request.url}")
        if request.method == "POST" and str(request.url) == URL:
            prm = "https://mcp.example/.well-known/oauth-protected-resource/mcp"
            header = f'Bearer resource_metadata="{prm}"'
            return httpx2.Response(self.status, headers={"WWW-Authenticate": header})
        if request.url.path == "/.well-known/oauth-protected-resource/mcp":
            return httpx2.Response(
                200, json={"resource": self.resource, "authorization_servers": [ISSUER]}
            )
        if request.url.host == "as.example" and "oauth-authorization-server" in request.url.path:
            return httpx2.Response(200, json=self.metadata)
        return httpx2.Response(404)


@pytest.fixture(autouse=True)
def _fresh() -> None:
    discovery._found.clear()


async def find(upstream: Upstream, entry=None) -> discovery.Discovered:  # type: ignore[no-untyped-def]
    async with httpx2.AsyncClient(transport=httpx2.MockTransport(upstream)) as http:
        return await discovery.discover(entry or server(), http, URL)


async def test_the_401_leads_to_the_authorization_servers_endpoints() -> None:
    upstream = Upstream()
    found = await find(upstream)
    assert found.issuer.rstrip("/") == ISSUER and found.resource == URL
    assert found.token_endpoint == f"{ISSUER}/token"
    assert found.revocation_endpoint == f"{ISSUER}/revoke"
    assert found.scopes == "files.read"
    assert upstream.asked[0] == f"POST {URL}"
    asked = len(upstream.asked)
    assert await find(upstream) is found  # kept: nothing asked again
    assert len(upstream.asked) == asked
    discovery.forget(URL)
    await find(upstream)
    assert len(upstream.asked) > asked


async def test_a_configured_issuer_is_asked_without_a_probe() -> None:
    upstream = Upstream()
    agent = OAuthTarget(kind="agent", id=1, name="helper", url=URL, oauth_issuer=ISSUER)
    found = await find(upstream, agent)
    assert found.token_endpoint == f"{ISSUER}/token"
    assert not any(a.startswith("POST") for a in upstream.asked)


@pytest.mark.parametrize(
    ("upstream", "said"),
    [
        (Upstream(status=200), "answered 200, not 401"),
        (Upstream(resource="https://elsewhere.example/mcp"), "names another resource"),
        (Upstream(issuer="https://impostor.example"), "names another issuer"),
        (Upstream(pkce=("plain",)), "lacks PKCE S256"),
    ],
)
async def test_what_is_not_acceptable_is_refused(upstream: Upstream, said: str) -> None:
    with pytest.raises(discovery.DiscoveryFailed, match=said) as refused:
        await find(upstream)
    assert str(refused.value).startswith("MCP server files: ")
    assert URL not in discovery._found


async def test_a_transport_failure_is_a_discovery_failure() -> None:
    def down(request: httpx2.Request) -> httpx2.Response:
        raise httpx2.ConnectError("refused")

    with pytest.raises(discovery.DiscoveryFailed, match=r"OAuth discovery failed \(ConnectError\)"):
        await find(down)  # type: ignore[arg-type]
