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

from ..models import ENV_REFERENCE, McpServer
from .variables import env_variable

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


def parse_section(parser: Any, section: Any) -> list[McpServerSpec]:
    """The section's servers; an entry that cannot be imported is skipped (listed)."""
    from .parse import ConfigError

    specs: list[McpServerSpec] = []
    for name, entry in parser.mapping(section, "mcp_servers").items():
        path = f"mcp_servers.{name}"

        def read(name: Any = name, entry: Any = entry, path: str = path) -> McpServerSpec:
            entry = parser.mapping(entry, path)
            parser.unknown(path, [k for k in entry if k not in KNOWN])
            transport = parser.string(entry.get("transport"), f"{path}.transport") or (
                "stdio" if entry.get("command") else "http"
            )
            if transport not in TRANSPORTS:
                raise ConfigError(f"{path}.transport: http, sse or stdio, got {transport!r}")
            spec = McpServerSpec(path=path, name=str(name), transport=TRANSPORTS[transport])
            spec.description = parser.string(entry.get("description"), f"{path}.description")
            spec.url = parser.reference_or_text(entry.get("url"), f"{path}.url")
            spec.command = parser.string(entry.get("command"), f"{path}.command")
            args = entry.get("args") or []
            if not isinstance(args, list) or not all(
                isinstance(a, str | int | float) for a in args
            ):
                raise ConfigError(f"{path}.args: must be a list of strings")
            spec.args = [str(a) for a in args]
            spec.env = parser.string_map(entry.get("env"), f"{path}.env")
            headers = entry.get("static_headers", entry.get("headers"))
            spec.headers = parser.string_map(headers, f"{path}.static_headers")
            spec.call_timeout = parser.number(entry.get("timeout"), f"{path}.timeout")
            auth = parser.string(entry.get("auth_type"), f"{path}.auth_type") or "none"
            value = parser.reference_or_text(
                entry.get("auth_value", entry.get("authentication_token")), f"{path}.auth_value"
            )
            if auth == "bearer_token" and value:
                spec.bearer = value
            elif auth == "api_key" and value:
                spec.headers.setdefault("X-API-Key", value)
            elif auth == "authorization" and value:
                spec.headers.setdefault("Authorization", value)
            elif auth not in ("none", "bearer_token", "api_key", "authorization"):
                raise ConfigError(
                    f"{path}.auth_type: {auth!r} is not supported (bearer_token, api_key, "
                    "authorization, none)"
                )
            return spec

        spec = parser.guarded(path, read)
        if spec is not None:
            specs.append(spec)
    return specs


def plan_servers(specs: list[McpServerSpec]) -> list[Any]:
    """One Change per server: created, updated (by name) or unchanged."""
    from .plan import Change, _validate

    existing = {s.name: s for s in McpServer.objects.all()}
    changes = []
    for spec in specs:
        server = existing.get(spec.name) or McpServer(name=spec.name)
        before = _comparable(server) if server.pk else None
        server.transport, server.url, server.command = spec.transport, spec.url, spec.command
        server.args, server.description = list(spec.args), spec.description
        if spec.call_timeout is not None:
            server.call_timeout = spec.call_timeout
        if before is None or spec.headers != before["headers"]:
            server.headers = dict(spec.headers)
        if before is None or spec.env != before["env"]:
            server.env = dict(spec.env)
        if before is None or spec.bearer != before["bearer"]:
            server.set_bearer(spec.bearer)
        _validate(server, spec.path)
        after = _comparable(server)
        if before is None:
            action, fields = "create", {}
        else:
            fields = {k: (before[k], after[k]) for k in after if before[k] != after[k]}
            for secret in ("bearer", "headers", "env"):
                if secret in fields:
                    fields[secret] = ("(stored)", "(new value)")
            action = "update" if fields else "unchanged"
        changes.append(Change(action, f"MCP server {spec.name}", server, fields, item=spec.name))
    return changes


def _comparable(server: McpServer) -> dict[str, Any]:
    return {
        "transport": server.transport,
        "url": server.url,
        "command": server.command,
        "args": list(server.args or []),
        "description": server.description,
        "call_timeout": server.call_timeout,
        "headers": server.stored_headers(),
        "env": server.stored_env(),
        "bearer": server.stored_bearer(),
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
            entry["url"] = server.url
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
        out[server.name] = entry
    return out


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
