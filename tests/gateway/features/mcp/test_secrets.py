"""The secrets redaction must know (``gateway.features.mcp.secrets``): every registered
MCP server's bearer, OAuth client secret, header and env values (references resolved,
too short ones left), what another source holds (the OAuth tokens in memory), with
the configured ones, longest first."""

from __future__ import annotations

import dataclasses

from gateway.access import registry
from gateway.base.entries import McpServerEntry
from gateway.features.mcp import secrets
from tests.gateway.entries import snapshot


def server(name: str, **fields) -> McpServerEntry:  # type: ignore[no-untyped-def]
    base = McpServerEntry(
        id=1, name=name, transport="streamable_http", url="http://127.0.0.1:9/mcp",
        headers=(), bearer="", command="", args=(), env=(), enabled=True,
        connect_timeout=5.0, call_timeout=5.0,
    )  # fmt: skip
    return dataclasses.replace(base, **fields)


def test_every_server_secret_is_known_longest_first(snapshot_reset, monkeypatch, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sk-master-of-the-tests"
    monkeypatch.setenv("SWITCHYARD_ENV_ALLOW", "MCP_TEST_HEADER_SECRET")
    monkeypatch.setenv("MCP_TEST_HEADER_SECRET", "from-the-environment-value")
    web = server(
        "web",
        bearer="bearer-token-123",
        oauth_client_secret="client-secret-xyz",
        headers=(("X-Key", "os.environ/MCP_TEST_HEADER_SECRET"), ("X-Short", "abc")),
    )
    local = server("local", transport="stdio", env=(("TOKEN", "env-token-value-long"),))
    registry.install(dataclasses.replace(snapshot(), mcp_servers={"web": web, "local": local}))
    known = secrets.known_secrets()
    wanted = ("bearer-token-123", "client-secret-xyz", "env-token-value-long")
    assert set(wanted) | {settings.SWITCHYARD_MASTER_KEY} <= set(known)
    assert "abc" not in known  # too short to redact without mangling text
    assert "from-the-environment-value" in known  # the reference, resolved
    assert known == sorted(known, key=len, reverse=True)


def test_what_another_source_holds_is_known_once(snapshot_reset, monkeypatch) -> None:
    monkeypatch.setattr(secrets, "_held_elsewhere", [])
    registry.install(snapshot())

    def tokens() -> list[str]:
        return ["access-token-in-memory", "short"]

    secrets.also_redact(tokens)
    secrets.also_redact(tokens)
    assert secrets._held_elsewhere == [tokens]
    known = secrets.known_secrets()
    assert "access-token-in-memory" in known and "short" not in known
