"""MCP servers: list with status and recent calls, add and edit, test the connection
(its tools with their input schemas), call a tool from a JSON form (as the master key,
journaled like a call through /mcp), delete. All through ``save``; the pages are declared in ``pages.py``.

Stdio servers run commands on the gateway's host, which is the operator's power (rule
``mcp_server.stdio``): unless the operator sets ``SWITCHYARD_STDIO_MCP_SERVERS``, the form
offers no stdio transport, and a stdio server (from the operator's config import) is shown
read-only; it may still be tested, called and deleted."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateway.access.authorization import Denied, decide
from gateway.base.entries import same_named
from gateway.features.mcp import save as mcp_admin
from gateway.features.mcp.forms import McpServerForm
from gateway.models import McpServer, RequestLog
from gateway.web.decorators import actor_of, fields_refused, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, deleted, go_to
from gateway.web.saving import show_errors

if TYPE_CHECKING:
    pass

TEMPLATE = "mcp/servers.html"
RECENT_CALLS = 20


def _context(request: HtmxHttpRequest, **extra: Any) -> dict[str, Any]:
    servers = list(McpServer.objects.all())
    stdio = bool(decide(actor_of(request), "mcp_server.stdio"))
    for server in servers:
        server.read_only = server.transport == McpServer.Transport.STDIO and not stdio
        server.target = (
            " ".join([server.command, *server.args])
            if server.transport == McpServer.Transport.STDIO
            else server.url_display
        )
    calls = RequestLog.objects.filter(dialect="mcp").order_by("-created_at", "-id")[:RECENT_CALLS]
    return {"servers": servers, "calls": calls, **extra}


@staff_required
def mcp_list(request: HtmxHttpRequest) -> HttpResponse:
    template = TEMPLATE + "#recent-calls" if request.htmx else TEMPLATE
    return render(request, template, _context(request))


def _edit(request: HtmxHttpRequest, server: McpServer | None) -> HttpResponse:
    actor = actor_of(request)
    stdio = bool(decide(actor, "mcp_server.stdio", server))
    read_only = server is not None and server.transport == McpServer.Transport.STDIO and not stdio
    if request.method == "POST" and not read_only:
        form = McpServerForm(request.POST, stdio=stdio)
        if form.is_valid() and (
            refused := fields_refused(request, "mcp_servers", form_values(form), server)
        ):
            return refused
        if form.is_valid():
            values, bearer = form.values(), form.bearer_change()
            try:
                mcp_admin.check_save(actor, server, values, bearer=bearer)
                saved = mcp_admin.save_server(server, values, bearer=bearer)
            except ValidationError as exc:
                show_errors(form, exc)
            except Denied as exc:
                form.add_error(None, exc.reason)
            else:
                return go_to(request, reverse("console:mcp-tools", args=[saved.pk]))
    else:
        initial = None
        if server is not None:
            initial = {
                "name": server.name,
                "description": server.description,
                "transport": server.transport,
                "url": server.url_display,
                "headers": server.headers_display,
                "command": server.command,
                "args": list(server.args or []),
                "env": server.env_display,
                **same_named(server, "enabled connect_timeout call_timeout price_usd"),
                **same_named(server, "sampling_route oauth oauth_client_id oauth_scopes"),
            }
        form = McpServerForm(initial=initial, stdio=stdio, read_only=read_only)
    template = "mcp/server_form.html"
    if request.htmx:
        template += "#mcp-form"
    status = 403 if read_only and request.method == "POST" else 200
    context = {"form": form, "server": server, "read_only": read_only}
    if read_only:
        context["read_only_reason"] = decide(actor, "mcp_server.stdio", server).reason
    return render(request, template, context, status=status)


@staff_required
def mcp_create(request: HtmxHttpRequest) -> HttpResponse:
    return _edit(request, None)


@staff_required
def mcp_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(McpServer, pk=pk))


@staff_required
@require_POST
def mcp_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    mcp_admin.delete_server(get_object_or_404(McpServer, pk=pk))
    return deleted(request, reverse("console:mcp"))


@staff_required
def mcp_tools(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Connect once and show the tools, each with its schema and a call form."""
    server = get_object_or_404(McpServer, pk=pk)
    result = async_to_sync(mcp_admin.probe)(server, request.user.pk)
    tools = [
        {
            "name": t.name,
            "description": t.description or "",
            "schema": json.dumps(t.input_schema, indent=2),
            "example": json.dumps(_example(t.input_schema)),
        }
        for t in result.tools
    ]
    context = {"server": server, "result": result, "tools": tools}
    template = "mcp/tools.html"
    if request.htmx:
        template += "#probe"
    return render(request, template, context)


@staff_required
@require_POST
def mcp_call(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    from gateway.features.mcp import calls

    server = get_object_or_404(McpServer, pk=pk)
    tool = request.POST.get("tool", "")
    text = request.POST.get("arguments", "") or "{}"
    error, result = "", None
    try:
        arguments = json.loads(text)
    except json.JSONDecodeError as exc:
        error = f"the arguments are not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    else:
        answer = calls.admin_call(
            server,
            tool,
            arguments,
            owner=request.user.pk,  # an OAuth server: the admin's own token
            holder=request.user.pk,
            detail="tool called from the console as the master key",
            endpoint="console",
            from_playground=True,
        )
        result = {
            "is_error": bool(answer.is_error),
            "text": json.dumps(
                answer.model_dump(mode="json", by_alias=True, exclude_none=True), indent=2
            ),
        }
    context = {"server": server, "tool": tool, "error": error, "call": result}
    return render(request, "mcp/tools.html#call-result", context)


def _example(schema: object) -> dict[str, Any]:
    """Arguments to start the form with: each required property's default or an empty value."""
    if not isinstance(schema, dict):
        return {}
    empty: dict[str | None, Any] = {
        "string": "",
        "integer": 0,
        "number": 0,
        "boolean": False,
        "array": [],
        "object": {},
    }
    out: dict[str, Any] = {}
    properties = schema.get("properties") or {}
    for name in schema.get("required") or []:
        prop: dict[str, Any] = properties.get(name) or {}
        out[name] = prop.get("default", empty.get(prop.get("type")))
    return out
