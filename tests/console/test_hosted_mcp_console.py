"""Hosted MCP tools in the console: the request log's detail lists the tool calls the
gateway ran for a request (server, tool, status, time, error), and a route's form sets
the registered MCP servers its requests get."""

from __future__ import annotations

from django.test import Client

from gateway.models import RequestLog, Route


def test_the_log_detail_lists_the_hosted_tool_calls(staff_client: Client, registry_rows) -> None:
    log = registry_rows["log"]
    RequestLog.objects.filter(pk=log.pk).update(
        mcp_calls=[
            {"server": "docs", "tool": "lookup", "status": "ok", "duration_ms": 12.5, "error": ""},
            {
                "server": "docs",
                "tool": "explode",
                "status": "error",
                "duration_ms": 3.0,
                "error": "the tool failed",
            },
        ]
    )
    page = staff_client.get(f"/logs/{log.request_id}/").content.decode()
    assert "MCP tool calls" in page
    assert "lookup" in page and "explode" in page and "the tool failed" in page


def test_a_log_without_tool_calls_shows_no_such_section(staff_client: Client, registry_rows):
    page = staff_client.get(f"/logs/{registry_rows['log'].request_id}/").content.decode()
    assert "MCP tool calls" not in page


def test_the_route_form_sets_its_mcp_servers(staff_client: Client, registry_rows) -> None:
    route = registry_rows["route"] if "route" in registry_rows else Route.objects.get(name="chat")
    form = staff_client.get(f"/routes/{route.pk}/").content.decode()
    assert 'name="mcp_servers"' in form
    data = {
        "name": route.name,
        "strategy": route.strategy,
        "max_attempts": 3,
        "mcp_servers": "docs, wiki",
        "drop_params": "on",
        "enabled": "on",
    }
    response = staff_client.post(f"/routes/{route.pk}/", data)
    assert response.status_code in (200, 302), response.content[:500]
    route.refresh_from_db()
    assert route.mcp_servers == ["docs", "wiki"]
    card = staff_client.get("/routes/").content.decode()
    assert "MCP tools" in card and "docs, wiki" in card
