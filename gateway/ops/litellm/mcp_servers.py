"""LiteLLM's ``mcp_servers:`` section in and out.

LiteLLM's form, per server name::

    mcp_servers:
      github:
        url: https://api.githubcopilot.com/mcp   # transport http (default) or sse
        transport: http
        auth_type: bearer_token                  # or api_key, authorization, none
        auth_value: os.environ/GITHUB_TOKEN
        static_headers: {X-Team: os.environ/TEAM_HEADER}
        description: GitHub tools
      files:
        transport: stdio
        command: npx
        args: ["-y", "@modelcontextprotocol/server-filesystem", "/data"]
        env: {ROOT: /data}

``auth_type: bearer_token`` becomes the server's bearer token; ``api_key`` an
``X-API-Key`` header; ``authorization`` the literal ``Authorization`` header. Literal
secrets are stored encrypted; an export writes them as ``os.environ/`` references
unless secrets are included."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.base.secrets.declared import url_has_secret
from gateway.models import ENV_REFERENCE, McpServer
from gateway.ops.litellm.variables import env_variable

TRANSPORTS = {
    "http": "streamable_http",
    "streamable_http": "streamable_http",
    "sse": "sse",
    "stdio": "stdio",
}
EXPORTED_TRANSPORTS = {"streamable_http": "http", "sse": "sse", "stdio": "stdio"}
KNOWN = {
    "url",
    "transport",
    "auth_type",
    "auth_value",
    "authentication_token",
    "static_headers",
    "headers",
    "description",
    "command",
    "args",
    "env",
    "timeout",
}


@dataclass(slots=True)
class McpServerSpec:
    path: str
    name: str
    transport: str
    url: str = ""
    command: str = ""
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    bearer: str = ""
    description: str = ""
    call_timeout: float | None = None
    sampling_route: str | None = None  # ``switchyard.sampling_route``: LiteLLM has none


OWN_KEY = "switchyard"  # mcp_servers.<name>.switchyard: Switchyard's settings LiteLLM lacks


def _comparable(server: McpServer) -> dict[str, Any]:
    return {
        "transport": server.transport,
        "url": server.url,
        "command": server.command,
        "args": list(server.args or []),
        "description": server.description,
        "call_timeout": server.call_timeout,
        "sampling_route": server.sampling_route,
        "headers": server.stored_headers(),
        "env": server.stored_env(),
        "bearer": server.stored_bearer(),
        "from_operator": server.from_operator,
    }


def export_section(include_secrets: bool, comments: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for server in McpServer.objects.all():
        if not server.enabled:
            comments.append(f"MCP server {server.name} is disabled and not exported")
            continue
        entry: dict[str, Any] = {"transport": EXPORTED_TRANSPORTS[server.transport]}
        if server.description:
            entry["description"] = server.description
        if server.transport == "stdio":
            entry["command"] = server.command
            if server.args:
                entry["args"] = list(server.args)
            env = _secrets(
                server.name, server.env, server.stored_env(), include_secrets, comments, "ENV"
            )
            if env:
                entry["env"] = env
        else:
            entry["url"] = _export_url(server, include_secrets, comments)
        if server.bearer_ref or server.bearer_ciphertext:
            entry["auth_type"] = "bearer_token"
            if server.bearer_ref or not include_secrets:
                variable = env_variable(server.name, "MCP_TOKEN")
                entry["auth_value"] = server.bearer_ref or f"os.environ/{variable}"
                if not server.bearer_ref:
                    comments.append(
                        f"MCP server {server.name}: its token is exported as os.environ/{variable}"
                    )
            else:
                entry["auth_value"] = server.stored_bearer()
        headers = _secrets(
            server.name,
            server.headers,
            server.stored_headers(),
            include_secrets,
            comments,
            "HEADER",
        )
        if headers:
            entry["static_headers"] = headers
        if server.call_timeout != 60.0:
            entry["timeout"] = server.call_timeout
        if server.sampling_route:
            entry[OWN_KEY] = {"sampling_route": server.sampling_route}
        out[server.name] = entry
    return out


def _export_url(server: McpServer, include_secrets: bool, comments: list[str]) -> str:
    """The URL, or, when it carries credentials (user info or a query: the URL type), an
    ``os.environ/`` name to set to it (the stored URL only with ``include_secrets``)."""
    url = server.url
    if include_secrets or not url_has_secret(url) or ENV_REFERENCE.match(url):
        return url
    variable = env_variable(server.name, "MCP_URL")
    comments.append(
        f"MCP server {server.name}: its URL holds credentials; exported as os.environ/{variable}"
    )
    return f"os.environ/{variable}"


def _secrets(
    server: str,
    sealed: dict[str, str],
    stored: dict[str, str],
    include_secrets: bool,
    comments: list[str],
    what: str,
) -> dict[str, str]:
    out = {}
    for name, value in (sealed or {}).items():
        if ENV_REFERENCE.match(value):
            out[name] = value
        elif include_secrets:
            out[name] = stored[name]
        else:
            variable = env_variable(server, "MCP", what, name)
            out[name] = f"os.environ/{variable}"
            comments.append(f"MCP server {server}: {name} is exported as os.environ/{variable}")
    return out
