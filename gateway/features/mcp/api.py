"""MCP servers in the management API. The bearer token, the OAuth client secret,
header and env values are write-only (per-person OAuth tokens are never in it): answers show ``os.environ/`` references and a mask for literals; the mask
sent back keeps what is stored. ``/test`` connects once and lists the tools; ``/tools``
and ``/call`` go through the process's pool (a call is journaled like any other, naming
the caller's key, and audited as the caller).

Stdio servers run commands on the gateway's host: the operator's power (rule
``mcp_server.stdio``), so creating one, changing one or turning one into stdio is a 403
unless the operator set ``SWITCHYARD_STDIO_MCP_SERVERS``; deleting one is allowed.
``os.environ/NAME`` references the operator does not allow are a 422 naming the field."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from gateway.access import console_keys, registry, roles
from gateway.access.authorization import Denied
from gateway.base.entries import MASTER, KeyEntry, same_named
from gateway.features.mcp import save
from gateway.models import McpServer
from gateway.telemetry import attribution
from gateway.telemetry.tags import TAGS_HEADER
from gateway.web.api.writes import ValidationErrors, check_fields, save_with_secret

PATH = "/mcp-servers"  # mounted at /api/mcp-servers (gateway.edge.api)
router = Router(tags=["mcp-servers"])


class McpServerOut(Schema):
    id: int
    name: str
    description: str
    transport: str
    url: str
    headers: dict[str, str]
    bearer: str
    command: str
    args: list[str]
    env: dict[str, str]
    enabled: bool
    connect_timeout: float
    call_timeout: float
    price_usd: Decimal = Decimal(0)  # charged per tool call
    sampling_route: str
    oauth: str = ""  # "", per_user, service
    oauth_client_id: str = ""
    oauth_client_secret: str = ""  # a mask when one is stored
    oauth_scopes: str = ""

    @staticmethod
    def of(server: McpServer) -> McpServerOut:
        return McpServerOut(
            id=server.pk,
            **same_named(server, "name description transport command enabled connect_timeout"),
            **same_named(server, "call_timeout price_usd sampling_route oauth oauth_client_id"),
            url=server.url_display,  # user info and query masked (the URL type)
            headers=server.headers_display,
            bearer=server.bearer_display,
            args=list(server.args or []),
            env=server.env_display,
            oauth_client_secret=server.oauth_client_secret_display,
            oauth_scopes=server.oauth_scopes,
        )


class McpServerIn(Schema):
    name: str
    description: str = ""
    transport: str = McpServer.Transport.STREAMABLE_HTTP  # type: ignore[assignment]  # (a str: TextChoices)
    url: str = ""
    headers: dict[str, str] = {}
    bearer: str | None = None  # a literal (stored encrypted) or os.environ/NAME
    command: str = ""
    args: list[str] = []
    env: dict[str, str] = {}
    enabled: bool = True
    connect_timeout: float = 10.0
    call_timeout: float = 60.0
    price_usd: Decimal = Decimal(0)  # USD charged to the caller's budget per tool call
    # a route that answers the server's sampling for clients that do not take it
    sampling_route: str = ""
    oauth: str = ""  # "" none, per_user (each person connects), service (client credentials)
    oauth_client_id: str = ""  # a pre-registered client; empty: dynamic registration
    oauth_client_secret: str | None = None  # stored encrypted; write-only
    oauth_scopes: str = ""


class McpServerPatch(Schema):
    name: str | None = None
    description: str | None = None
    transport: str | None = None
    url: str | None = None
    headers: dict[str, str] | None = None
    bearer: str | None = None  # omitted: keep; "": clear
    command: str | None = None
    args: list[str] | None = None
    env: dict[str, str] | None = None
    enabled: bool | None = None
    connect_timeout: float | None = None
    call_timeout: float | None = None
    price_usd: Decimal | None = None
    sampling_route: str | None = None
    oauth: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None  # omitted: keep; "": clear
    oauth_scopes: str | None = None


class ToolOut(Schema):
    name: str
    description: str | None = None
    input_schema: dict[str, Any]


class ProbeOut(Schema):
    ok: bool
    tools: list[ToolOut]
    error: str
    elapsed_ms: float


class CallIn(Schema):
    tool: str
    arguments: dict[str, Any] = {}


class CallOut(Schema):
    is_error: bool
    result: dict[str, Any]


def _tool(tool: Any) -> ToolOut:
    return ToolOut(name=tool.name, description=tool.description, input_schema=tool.input_schema)


def guarded_save(actor: Any) -> Any:
    """``save.save_server`` for ``actor`` after ``save.check_save``: a refusal of stdio
    a 403, a refused reference a 422."""

    def saving(
        server: McpServer | None, values: dict[str, Any], *, bearer: str | None
    ) -> McpServer:
        try:
            save.check_save(actor, server, values, bearer=bearer)
        except Denied as exc:
            raise HttpError(403, exc.reason) from None
        return save.save_server(server, values, bearer=bearer)

    return saving


@router.get("/", response=list[McpServerOut])
def list_servers(request: HttpRequest) -> list[McpServerOut]:
    return [McpServerOut.of(s) for s in McpServer.objects.all()]


@router.post("/", response={201: McpServerOut, 422: ValidationErrors})
def create_server(request: HttpRequest, payload: McpServerIn) -> Status[Any]:
    check_fields(request, "mcp_servers", payload.dict(exclude_unset=True))
    return save_with_secret(guarded_save(request.actor), None, payload, "bearer", McpServerOut.of)


@router.get("/{rowid:server_id}", response=McpServerOut)
def get_server(request: HttpRequest, server_id: int) -> McpServerOut:
    return McpServerOut.of(get_object_or_404(McpServer, pk=server_id))


@router.patch("/{rowid:server_id}", response={200: McpServerOut, 422: ValidationErrors})
def update_server(request: HttpRequest, server_id: int, payload: McpServerPatch) -> Status[Any]:
    server = get_object_or_404(McpServer, pk=server_id)
    check_fields(request, "mcp_servers", payload.dict(exclude_unset=True), server)
    return save_with_secret(guarded_save(request.actor), server, payload, "bearer", McpServerOut.of)


@router.delete("/{rowid:server_id}", response={204: None})
def delete_server(request: HttpRequest, server_id: int) -> Status[None]:
    save.delete_server(get_object_or_404(McpServer, pk=server_id))
    return Status(204, None)


@router.post("/{rowid:server_id}/test", response=ProbeOut)
def test_server(request: HttpRequest, server_id: int) -> ProbeOut:
    """Connect once (a connection of its own) and list the tools; the error is the answer."""
    result = async_to_sync(save.probe)(get_object_or_404(McpServer, pk=server_id))
    return ProbeOut(
        ok=result.ok,
        tools=[_tool(t) for t in result.tools],
        error=result.error,
        elapsed_ms=result.elapsed_ms,
    )


def _journal_identity(actor: roles.Actor) -> KeyEntry:
    """The key an ``/api`` caller's tool call is journaled as: a management key itself,
    a signed-in person's console key (``console_keys``), the master key itself."""

    if actor.via == "master" or actor.user_id is None:
        return MASTER
    if actor.via == "key":
        for entry in registry.current().keys.values():
            if entry.id == actor.key_id:
                return entry
    else:
        try:
            return console_keys.key_for(actor.user_id, console_keys.DEFAULT, "providers.edit")
        except console_keys.ConsoleIdentityRefused:
            pass
    # no key of theirs to name (revoked since): the person, with the master key's reach
    return dataclasses.replace(MASTER, name=f"{actor.username} (api)", prefix="api")


@router.post("/{rowid:server_id}/call", response=CallOut)
def call_tool(request: HttpRequest, server_id: int, payload: CallIn) -> CallOut:
    """Call one tool with the master key's reach (the caller may manage every server),
    as the caller: the journal row names their key (a session: their console key; a
    management key: itself), an OAuth server gets their own token (a management key's
    only when its owner minted it) and the call is an audit row naming them. The
    request's ``x-switchyard-user`` and ``x-switchyard-tags`` reach the journal and
    the budgets as on ``/mcp``."""
    from gateway.features.mcp import calls

    server = get_object_or_404(McpServer, pk=server_id)
    actor: roles.Actor = request.actor
    named = _journal_identity(actor)
    result = calls.admin_call(
        server,
        payload.tool,
        payload.arguments,
        owner=actor.user_id,
        holder=actor.holder_id,
        detail=f"tool called through /api as {named.name}",
        endpoint="api",
        journal_as=named,
        tags_header=request.headers.get(TAGS_HEADER, ""),
        end_user=attribution.end_user_of(request.headers),
    )
    return CallOut(
        is_error=bool(result.is_error),
        result=result.model_dump(mode="json", by_alias=True, exclude_none=True),
    )
