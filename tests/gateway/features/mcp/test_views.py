"""MCP tool calls in the request log: the list filter and the detail page (arguments
and result as bodies) render for a journaled call; the MCP page lists servers and
recent calls; the key form saves MCP permissions."""

from __future__ import annotations

import json

import pytest

from gateway.models import ApiKey, McpServer, RequestBody, RequestLog
from tests.console.role_sets import ADMINS, ALL, Expectation

# Who may open the MCP pages (the role matrix collects this): the servers (their
# credentials, tool calls run from the console) are the admins'; one's own OAuth
# connections (rule mcp.oauth.connect) and signing an MCP client in as oneself (rule
# mcp.oauth.consent) are everyone's.
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    **{
        name: (ADMINS, ADMINS)
        for name in ("mcp", "mcp-create", "mcp-edit", "mcp-delete", "mcp-tools", "mcp-call")
    },
    **{
        name: (ALL, ALL)
        for name in ("mcp-connections", "mcp-oauth-callback", "mcp-connect", "mcp-disconnect")
    },
    "mcp-oauth-authorize": (ALL, ALL),
}


@pytest.fixture
def mcp_call(db) -> RequestLog:
    log = RequestLog.objects.create(
        request_id="mcp_abc123",
        dialect="mcp",
        endpoint="tools/call",
        route="local",
        provider="mcp",
        upstream_model="add",
        status=200,
        latency_ms=12,
        key_name="agent",
    )
    RequestBody.objects.create(
        log=log,
        inbound_request=json.dumps({"server": "local", "tool": "add", "arguments": {"a": 1}}),
        outbound_response=json.dumps({"content": [{"type": "text", "text": "2"}]}),
    )
    return log


def test_log_list_and_detail_show_mcp_calls(staff_client, mcp_call) -> None:
    page = staff_client.get("/logs/?dialect=mcp")
    assert page.status_code == 200 and b"mcp_abc123" in page.content
    detail = staff_client.get("/logs/mcp_abc123/")
    assert detail.status_code == 200
    assert b"arguments" in detail.content and b"local" in detail.content


def test_mcp_page_lists_servers_and_calls(staff_client, mcp_call) -> None:
    McpServer.objects.create(name="local", transport="stdio", command="python")
    page = staff_client.get("/mcp-servers/")
    assert page.status_code == 200
    assert b"local__add" in page.content and b"stdio command" in page.content


def test_key_form_saves_mcp_permissions(staff_client) -> None:
    answer = staff_client.post(
        "/keys/new/", {"name": "agent", "mcp_allowed": "local__add, web", "budget_period": "month"}
    )
    assert answer.status_code == 200
    assert ApiKey.objects.get(name="agent").mcp_allowed == ["local__add", "web"]
    bad = staff_client.post(
        "/keys/new/", {"name": "b", "mcp_allowed": "bad name!", "budget_period": "month"}
    )
    assert not ApiKey.objects.filter(name="b").exists() and b"not a server" in bad.content


def test_team_form_bounds_mcp_and_key_page_shows_the_effective_list(staff_client) -> None:
    from gateway.access import keys
    from gateway.models import Team

    team = Team.objects.create(name="narrow")
    keys.create_key(name="teamed", team=team.pk, mcp_allowed=["web", "local__add"])
    edit = f"/teams/{team.pk}/"
    base = {"action": "save", "name": "narrow", "budget_period": "month"}
    staff_client.post(edit, {**base, "mcp_restricted": "on", "mcp_allowed": "web__get, local"})
    team.refresh_from_db()
    assert team.mcp_allowed == ["web__get", "local"]
    page = staff_client.get("/keys/").content.decode()
    assert "web__get" in page and "local__add" in page and "within team narrow" in page
    form = staff_client.get(edit).content.decode()
    assert 'value="web__get, local"' in form
    # unticked: the team does not restrict; ticked with an empty list: nothing
    staff_client.post(edit, {**base, "mcp_allowed": "web__get"})
    team.refresh_from_db()
    assert team.mcp_allowed is None
    staff_client.post(edit, {**base, "mcp_restricted": "on", "mcp_allowed": ""})
    team.refresh_from_db()
    assert team.mcp_allowed == []
    bad = staff_client.post(edit, {**base, "mcp_restricted": "on", "mcp_allowed": "bad name!"})
    assert b"not a server" in bad.content


def test_the_server_form_shows_stdio_fields_only_where_stdio_can_be_chosen(
    staff_client, settings
) -> None:
    """Without the operator's SWITCHYARD_STDIO_MCP_SERVERS, stdio is not a choice, and
    its command, arguments and environment are not shown either (#66)."""
    settings.SWITCHYARD_STDIO_MCP_SERVERS = False
    page = staff_client.get("/mcp-servers/new/").content.decode()
    assert 'value="stdio"' not in page
    assert 'id="id_command"' not in page and 'id="id_env"' not in page
    settings.SWITCHYARD_STDIO_MCP_SERVERS = True
    page = staff_client.get("/mcp-servers/new/").content.decode()
    assert 'value="stdio"' in page and 'id="id_command"' in page
