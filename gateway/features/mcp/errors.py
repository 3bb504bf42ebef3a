"""What the pool and the endpoint raise. Every message is safe to show to the caller:
it names the server and tool, never a URL's credentials, a header, a token or an env
value (``safe_message`` redacts what an upstream error text might quote)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, URL_ELICITATION_REQUIRED

from gateway.features.mcp.secrets import known_secrets
from gateway.telemetry.redaction import redact

if TYPE_CHECKING:  # the SDK is imported with the pool, not with its errors
    from mcp.shared.exceptions import MCPError


class McpGatewayError(Exception):
    """A failure to reach or use an MCP server. ``code`` is the JSON-RPC error code
    to answer with; ``kind`` names it in the journal."""

    code = INTERNAL_ERROR
    kind = "mcp_error"

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class UnknownServer(McpGatewayError):
    code = INVALID_PARAMS
    kind = "unknown_server"


class UnknownTool(McpGatewayError):
    code = INVALID_PARAMS
    kind = "unknown_tool"


class NotAllowed(McpGatewayError):
    code = INVALID_PARAMS
    kind = "permission_denied"


class ServerUnavailable(McpGatewayError):
    """The server could not be connected (down, refused, a stdio command that exits)."""

    kind = "server_unavailable"


class ToolTimeout(McpGatewayError):
    kind = "timeout"


class UpstreamError(McpGatewayError):
    """The upstream server answered with a JSON-RPC error."""

    kind = "upstream_error"

    @classmethod
    def answered(cls, server: str, error: MCPError) -> UpstreamError:
        """``server``'s JSON-RPC ``error``: its code, its message made safe."""
        return cls(safe_message(f"MCP server {server}: {error.message}"), code=error.code)


def safe_message(text: str) -> str:
    """``text`` with configured secrets and key-looking tokens redacted, capped."""

    return redact(text, known_secrets())[:500]


class AuthorizationRequired(McpGatewayError):
    """An OAuth server this caller has no usable token for (never connected, refresh
    refused, revoked): the message says where to connect (``CONNECT_PATH`` on the
    console); ``/mcp`` answers it as a URL elicitation (``-32042``) naming that page."""

    code = URL_ELICITATION_REQUIRED
    kind = "authorization_required"
    CONNECT_PATH = "/mcp-connections/"

    def __init__(self, server: str, why: str) -> None:
        super().__init__(
            f"MCP server {server}: {why}; connect your account on the console's MCP "
            f"connections page ({self.CONNECT_PATH}), then try again"
        )
        self.server = server
        self.why = why
