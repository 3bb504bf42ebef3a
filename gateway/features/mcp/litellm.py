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
        switchyard: {price_usd: 0.01}   # Switchyard's own: USD per tool call

``auth_type: bearer_token`` becomes the server's bearer token; ``api_key`` an
``X-API-Key`` header; ``authorization`` the literal ``Authorization`` header. Literal
secrets are stored encrypted; an export writes them as ``os.environ/`` references
unless secrets are included. A stdio server (a command run on this host) comes only
from the operator's own file unless the operator allows stdio servers (rule
``mcp_server.stdio``); anyone else's file is judged as a console save
(``gateway.web.references``). The section (``SECTION``) is composed by
``gateway.ops.litellm`` through ``gateway.web.litellm_sections``."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError

from gateway.access.authorization import decide
from gateway.access.rules.operator import OPERATOR, REGISTERED
from gateway.base.entries import same_named
from gateway.base.secrets.declared import url_has_secret
from gateway.features.mcp.save import check_references
from gateway.models import ENV_REFERENCE, McpServer
from gateway.web import litellm_sections as kit

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
    price_usd: Decimal | None = None  # ``switchyard.price_usd``: per tool call


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
        "price_usd": Decimal(server.price_usd or 0),
        "headers": server.stored_headers(),
        "env": server.stored_env(),
        "bearer": server.stored_bearer(),
        "from_operator": server.from_operator,
    }


def parse(reader: kit.Reader, section: Any) -> list[McpServerSpec]:
    """The section's servers; an entry that cannot be imported is skipped (listed)."""
    specs: list[McpServerSpec] = []
    for name, entry in reader.mapping(section, "mcp_servers").items():
        path = f"mcp_servers.{name}"

        def read(name: Any = name, entry: Any = entry, path: str = path) -> McpServerSpec:
            entry = reader.mapping(entry, path)
            reader.unknown(path, [k for k in entry if k not in KNOWN])
            transport = reader.string(entry.get("transport"), f"{path}.transport") or (
                "stdio" if entry.get("command") else "http"
            )
            if transport not in TRANSPORTS:
                raise kit.ConfigError(f"{path}.transport: http, sse or stdio, got {transport!r}")
            spec = McpServerSpec(path=path, name=str(name), transport=TRANSPORTS[transport])
            spec.description = reader.string(entry.get("description"), f"{path}.description")
            spec.url = reader.reference_or_text(entry.get("url"), f"{path}.url")
            spec.command = reader.string(entry.get("command"), f"{path}.command")
            args = entry.get("args") or []
            if not isinstance(args, list) or not all(
                isinstance(a, str | int | float) for a in args
            ):
                raise kit.ConfigError(f"{path}.args: must be a list of strings")
            spec.args = [str(a) for a in args]
            spec.env = reader.string_map(entry.get("env"), f"{path}.env")
            headers = entry.get("static_headers", entry.get("headers"))
            spec.headers = reader.string_map(headers, f"{path}.static_headers")
            spec.call_timeout = reader.number(entry.get("timeout"), f"{path}.timeout")
            own = entry.get("switchyard") or {}
            if not isinstance(own, dict):
                raise kit.ConfigError(f"{path}.switchyard: must be a mapping")
            if "sampling_route" in own:
                spec.sampling_route = reader.string(
                    own.get("sampling_route"), f"{path}.switchyard.sampling_route"
                )
            if own.get("price_usd") is not None:
                spec.price_usd = kit.dollars(own["price_usd"], f"{path}.switchyard.price_usd")
            auth = reader.string(entry.get("auth_type"), f"{path}.auth_type") or "none"
            value = reader.reference_or_text(
                entry.get("auth_value", entry.get("authentication_token")), f"{path}.auth_value"
            )
            if auth == "bearer_token" and value:
                spec.bearer = value
            elif auth == "api_key" and value:
                spec.headers.setdefault("X-API-Key", value)
            elif auth == "authorization" and value:
                spec.headers.setdefault("Authorization", value)
            elif auth not in ("none", "bearer_token", "api_key", "authorization"):
                raise kit.ConfigError(
                    f"{path}.auth_type: {auth!r} is not supported (bearer_token, api_key, "
                    "authorization, none)"
                )
            return spec

        spec = reader.guarded(path, read)
        if spec is not None:
            specs.append(spec)
    return specs


def plan_server(spec: McpServerSpec, existing: dict[str, McpServer], operator: bool) -> kit.Change:
    """The server's Change: created, updated (by name) or unchanged. A stdio server (a
    command run on this host), or a change to one, is imported only from the operator's
    own file (``operator``) unless the operator allows stdio servers; else a
    ``ConfigError`` (the server is skipped, saying why)."""
    server = existing.get(spec.name) or McpServer(name=spec.name)
    if spec.transport == "stdio" or server.transport == "stdio":
        decision = decide(OPERATOR if operator else REGISTERED, "mcp_server.stdio", spec)
        if not decision:
            raise kit.ConfigError(f"{spec.path}: not imported: {decision.reason}")
    before = _comparable(server) if server.pk else None
    if not operator:  # judged as a console save (save.check_references)
        try:
            check_references(
                server if server.pk else None,
                {
                    **same_named(spec, "url transport headers env command"),
                    "args": list(spec.args),
                },
                spec.bearer,
            )
        except ValidationError as exc:
            raise kit.ConfigError(f"{spec.path}: not imported: {kit.reasons(exc)}") from None
    if operator:
        server.from_operator = True
    server.transport, server.url, server.command = spec.transport, spec.url, spec.command
    server.args, server.description = list(spec.args), spec.description
    if spec.call_timeout is not None:
        server.call_timeout = spec.call_timeout
    if spec.sampling_route is not None:
        server.sampling_route = spec.sampling_route
    if spec.price_usd is not None:
        server.price_usd = spec.price_usd
    if before is None or spec.headers != before["headers"]:
        server.headers = dict(spec.headers)
    if before is None or spec.env != before["env"]:
        server.env = dict(spec.env)
    if before is None or spec.bearer != before["bearer"]:
        server.set_bearer(spec.bearer)
    kit.validate(server, spec.path)
    label = f"MCP server {spec.name}"
    secret = ("bearer", "headers", "env")
    return kit.change(label, server, before, _comparable(server), spec.name, secret)


def plan_servers(
    specs: list[McpServerSpec], operator: bool = False
) -> tuple[list[kit.Change], list[tuple[str, str]]]:
    """A ``Change`` per server (created, updated by name, unchanged), (path, reason) per
    one that cannot be imported."""
    existing = {s.name: s for s in McpServer.objects.all()}
    return kit.plan_each(specs, lambda spec: plan_server(spec, existing, operator))


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
                variable = kit.env_variable(server.name, "MCP_TOKEN")
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
        own: dict[str, Any] = {}
        if server.sampling_route:
            own["sampling_route"] = server.sampling_route
        if server.price_usd:
            own["price_usd"] = float(server.price_usd)
        if own:
            entry[OWN_KEY] = own
        out[server.name] = entry
    return out


def _export_url(server: McpServer, include_secrets: bool, comments: list[str]) -> str:
    """The URL, or, when it carries credentials (user info or a query: the URL type), an
    ``os.environ/`` name to set to it (the stored URL only with ``include_secrets``)."""
    url = server.url
    if include_secrets or not url_has_secret(url) or ENV_REFERENCE.match(url):
        return url
    variable = kit.env_variable(server.name, "MCP_URL")
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
            variable = kit.env_variable(server, "MCP", what, name)
            out[name] = f"os.environ/{variable}"
            comments.append(f"MCP server {server}: {name} is exported as os.environ/{variable}")
    return out


def secrets(spec: McpServerSpec) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(what a save stores encrypted: the token, the headers, the env, a URL carrying
    credentials; the URL as a string that may be a reference), with their paths."""
    sealed = [(f"{spec.path}.auth_value", spec.bearer)]
    sealed += [(f"{spec.path}.static_headers.{k}", v) for k, v in spec.headers.items()]
    sealed += [(f"{spec.path}.env.{k}", v) for k, v in spec.env.items()]
    if url_has_secret(spec.url) and not ENV_REFERENCE.match(spec.url):
        sealed.append((f"{spec.path}.url", spec.url))  # user info, a query: sealed
    return sealed, [(f"{spec.path}.url", spec.url)]


SECTION = kit.Section(
    key="mcp_servers",
    what="MCP server",
    model=McpServer,
    named_by=("mcp_servers", "mcp_allowed"),
    parse=parse,
    plan=plan_servers,
    export=export_section,
    secrets=secrets,
)
