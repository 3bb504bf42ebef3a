"""The one way an MCP server is saved, shared by the console, the management API and
the LiteLLM import: ``check_save`` (what a console or /api person may save: stdio is the
operator's, references are judged), ``save_server`` (validated, secrets sealed),
``delete_server``, and ``probe`` (connect once, list the tools, disconnect: what "test
connection" shows)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction

from gateway.access.authorization import require
from gateway.access.registry import mcp_entry
from gateway.models import McpServer, Route
from gateway.web import references

if TYPE_CHECKING:  # the SDK loads when a server is first probed or called
    import mcp_types as types

FIELDS = (
    "name",
    "description",
    "transport",
    "url",
    "command",
    "args",
    "enabled",
    "connect_timeout",
    "call_timeout",
    "price_usd",
    "sampling_route",
    "oauth",
    "oauth_client_id",
    "oauth_scopes",
)


def check_save(actor: Any, server: Any, values: Mapping[str, Any], *, bearer: str | None) -> None:
    """Before ``save_server`` for a console or /api ``actor``: a stdio server (creating
    one, changing one, turning one into stdio) needs ``mcp_server.stdio`` (``Denied``),
    references the operator's allow-list and the host-credential rule
    (``ValidationError``, ``gateway.web.references``); what is saved then is no longer
    the operator's, unless its references, URL and command are kept."""
    stdio = McpServer.Transport.STDIO
    if (server is not None and server.transport == stdio) or values.get("transport") == stdio:
        require(actor, "mcp_server.stdio", server)
    check_references(server, values, bearer)


def mcp_fields(values: Mapping[str, Any], bearer: str | None, server: Any) -> dict[str, object]:
    """An MCP server's referencing fields as a save would leave them."""

    def final(name: str) -> object:
        given = values.get(name)
        return given if given is not None else (getattr(server, name, None) if server else None)

    kept_bearer = server.bearer_ref if server is not None else ""
    return {
        "headers": final("headers"),
        "env": final("env"),
        "bearer": bearer if bearer is not None else kept_bearer,
    }


def check_references(server: Any, values: Mapping[str, Any], bearer: str | None) -> None:
    """Judge an MCP server a person saves (``server``: as stored, None when new): its
    references and where they go (``gateway.web.references``)."""
    stdio = McpServer.Transport.STDIO
    url = values.get("url") if values.get("url") is not None else getattr(server, "url", "")
    transport = values.get("transport") or getattr(server, "transport", "")
    fields = mcp_fields(values, bearer, server)
    endpoints: list[object] = [] if transport == stdio else [url]
    before = None
    if server is not None and server.pk is not None:
        launch = ("command", "args", "transport")
        if not all(values.get(k) in (None, getattr(server, k)) for k in launch):
            server.from_operator = False  # another command is no longer the operator's
        kept = [] if server.transport == stdio else [server.url]
        before = references.state({**mcp_fields({}, None, server), "url": server.url}, kept)
    if transport == stdio:  # a command on this host (mcp_server.stdio): sent nowhere
        endpoints, url = [], ""
    references.judge(
        server if server is not None else McpServer(), fields, endpoints, {"url": url}, before
    )


def save_server(
    server: McpServer | None,
    values: dict[str, Any],
    *,
    bearer: str | None = None,
) -> McpServer:
    """Create (``server`` None) or change an MCP server from ``values`` (the FIELDS plus
    ``headers`` and ``env``, masked values keeping what is stored, and
    ``oauth_client_secret``: None keeps it, "" removes it); raise ValidationError."""
    server = server or McpServer()
    if server.pk is not None and values.get("url") == server.url_display:
        values = {**values, "url": server.url}  # the mask keeps the stored URL
    for name in FIELDS:
        if name in values and values[name] is not None:
            setattr(server, name, values[name])
    if values.get("headers") is not None:
        server.set_headers(values["headers"])
    if values.get("env") is not None:
        server.set_env(values["env"])
    server.set_bearer(bearer)
    server.set_oauth_client_secret(values.get("oauth_client_secret"))
    server.full_clean()
    route = server.sampling_route
    if route and not Route.objects.filter(name=route).exists():  # a typo, said at once
        raise ValidationError({"sampling_route": f"no route named {route!r}"})
    with transaction.atomic():
        server.save()
    return server


def delete_server(server: McpServer) -> None:
    server.delete()


@dataclass
class Probe:
    ok: bool
    tools: list[types.Tool] = field(default_factory=list)  # noqa: F821
    error: str = ""
    elapsed_ms: float = 0.0


async def probe(server: McpServer, user_id: int | None = None) -> Probe:
    """Connect to ``server`` as saved (a connection of its own, closed afterwards), list
    its tools; any failure is the answer, with no secret in it. An OAuth server is
    reached with ``user_id``'s token (the console's signed-in person) or its service
    token."""
    import asyncio

    from gateway.features.mcp import pool
    from gateway.features.mcp.oauth import caller

    entry = mcp_entry(server)
    started = time.monotonic()
    try:
        auth = None
        if entry.oauth:
            caller.act_as(user_id)
            auth = caller.Bearer(entry, caller.principal(entry))
            await auth.ready()
        async with asyncio.timeout(entry.connect_timeout + entry.call_timeout):
            async with pool._client_for(entry, auth=auth) as client:
                tools = list((await client.list_tools()).tools)
    except BaseException as exc:  # noqa: BLE001 - the error is what the caller sees
        if isinstance(exc, KeyboardInterrupt | SystemExit | asyncio.CancelledError):
            raise
        message = pool.describe(entry, exc)
        return Probe(ok=False, error=message, elapsed_ms=(time.monotonic() - started) * 1000)
    return Probe(ok=True, tools=tools, elapsed_ms=(time.monotonic() - started) * 1000)
