"""What the OAuth machinery acts for (``oauth.targets``): a registered MCP server or an
``OAuthTarget`` (an A2A agent), each named in its rows, its messages, the token cache
and the audit log its own way; another kind's target found through its feature's hook."""

from __future__ import annotations

import pytest

from gateway.base import hooks
from gateway.base.entries import McpServerEntry, OAuthTarget
from gateway.features.mcp.oauth import targets

AGENT = OAuthTarget(
    kind="agent",
    id=5,
    name="files",
    url="https://agent.example/a2a",
    oauth_issuer="https://as.example",
)


def server(url: str = "https://mcp.example/mcp") -> McpServerEntry:
    return McpServerEntry(
        id=3, name="files", transport="streamable_http", url=url, headers=(), bearer="",
        command="", args=(), env=(), enabled=True, connect_timeout=5.0, call_timeout=5.0,
    )  # fmt: skip


def test_a_server_and_an_agent_of_one_name_are_told_apart() -> None:
    assert targets.where(server()) == {"server_id": 3}
    assert targets.where(AGENT) == {"agent_id": 5}
    assert targets.cache_name(server()) == "files"
    assert targets.cache_name(AGENT) == "agent:files"
    assert targets.label(server()) == "MCP server files"
    assert targets.label(AGENT) == "agent files"
    assert targets.object_type(server()) == "mcp_server"
    assert targets.object_type(AGENT) == "a2a_agent"


def test_the_issuer_is_the_configured_one_or_left_to_discovery() -> None:
    assert targets.issuer(AGENT) == "https://as.example"
    assert targets.issuer(server()) == ""


def test_a_servers_url_has_its_references_resolved(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV_ALLOW", "MCP_TARGET_URL")
    monkeypatch.setenv("MCP_TARGET_URL", "https://resolved.example/mcp")
    assert targets.home_url(server("os.environ/MCP_TARGET_URL")) == "https://resolved.example/mcp"
    assert targets.home_url(AGENT) == "https://agent.example/a2a"


def test_another_kinds_target_is_found_through_its_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    registered = hooks.NamedRegistry("oauth_targets", "test")
    registered.register("agent", lambda target_id: AGENT if target_id == 5 else None)
    monkeypatch.setattr(hooks, "oauth_targets", registered)
    assert targets.other("agent", 5) is AGENT
    assert targets.other("agent", 6) is None
    assert targets.other("robot", 5) is None  # a kind no feature registered
