"""What the MCP pool and endpoint raise (``gateway.features.mcp.errors``): each error carries
the JSON-RPC code it is answered with and a kind for the journal; ``safe_message`` never
lets a server's secret through and is capped; a missing OAuth token says where to
connect, answered as a URL elicitation."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, URL_ELICITATION_REQUIRED

from gateway.features.mcp import errors, secrets
from gateway.features.mcp.errors import (
    AuthorizationRequired,
    McpGatewayError,
    NotAllowed,
    ServerUnavailable,
    UnknownTool,
    UpstreamError,
    safe_message,
)

TOKEN = "sk-upstream-bearer-123456"


@pytest.fixture
def one_server(monkeypatch) -> None:
    server = SimpleNamespace(
        bearer=TOKEN, oauth_client_secret="", headers=[("X-Api-Key", "header-secret-9")], env=[]
    )
    snapshot = SimpleNamespace(mcp_servers={"s": server})
    monkeypatch.setattr(secrets, "registry", SimpleNamespace(current=lambda: snapshot))
    monkeypatch.setattr(secrets, "_held_elsewhere", [])


def test_each_error_is_answered_with_its_code_and_kind() -> None:
    assert (UnknownTool("x").code, UnknownTool("x").kind) == (INVALID_PARAMS, "unknown_tool")
    assert (NotAllowed("x").code, NotAllowed("x").kind) == (INVALID_PARAMS, "permission_denied")
    assert ServerUnavailable("x").code == INTERNAL_ERROR
    assert McpGatewayError("x", code=-32001).code == -32001 and McpGatewayError("x").message == "x"


def test_a_safe_message_carries_no_servers_secret(one_server) -> None:
    said = safe_message(f"401 from upstream: bad token {TOKEN} (header header-secret-9)")
    assert TOKEN not in said and "header-secret-9" not in said and "401 from upstream" in said


def test_a_token_held_in_memory_is_redacted_too(one_server) -> None:
    secrets.also_redact(lambda: ["oauth-access-abcdef", "short"])
    secrets.also_redact(secrets._held_elsewhere[0])  # once only
    assert len(secrets._held_elsewhere) == 1
    assert "oauth-access-abcdef" not in safe_message("token oauth-access-abcdef refused")
    assert "short" not in secrets.known_secrets()  # under 6 characters: not a secret


def test_a_safe_message_is_capped(one_server) -> None:
    assert len(safe_message("x" * 5000)) == 500


def test_a_missing_token_says_where_to_connect() -> None:
    error = AuthorizationRequired("docs", "the token was revoked")
    assert error.code == URL_ELICITATION_REQUIRED and error.kind == "authorization_required"
    assert error.message.startswith("MCP server docs: the token was revoked; connect")
    assert AuthorizationRequired.CONNECT_PATH in error.message
    assert (error.server, error.why) == ("docs", "the token was revoked")
    assert isinstance(error, errors.McpGatewayError)


def test_a_servers_json_rpc_error_keeps_its_code_and_loses_its_secrets(one_server) -> None:
    error = UpstreamError.answered("s", MCPError(-32001, f"token {TOKEN} expired"))
    assert (error.code, error.kind) == (-32001, "upstream_error")
    assert error.message.startswith("MCP server s: token ") and TOKEN not in error.message
    assert "expired" in error.message
