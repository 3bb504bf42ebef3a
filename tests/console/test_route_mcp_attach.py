"""Attaching a registered MCP server to a route needs the right to use that server
(``mcp.server.attach``: owners and admins, whose servers' credentials they are), on the
route's console form and through ``/api/routes``; an editor may still edit a route an
admin attached a server to, keep it or remove it (M7)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.models import McpServer, Membership, Route, Team

FORM = {
    "name": "chat",
    "strategy": "weighted",
    "max_attempts": 3,
    "enabled": "on",
    "teams": ["alpha"],
}


@pytest.fixture
def people(registry_rows) -> dict:
    alpha = Team.objects.create(name="alpha")
    registry_rows["route"].teams.set([alpha])
    McpServer.objects.create(
        name="probe", transport="streamable_http", url="http://127.0.0.1:9/mcp"
    )
    clients = {}
    for role in ("admin", "editor"):
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        Membership.objects.create(user=user, team=alpha, role=role)
        clients[role] = Client()
        clients[role].force_login(user)
    return {**registry_rows, **clients}


def test_an_editor_may_not_attach_a_server_on_the_form(people) -> None:
    route = people["route"]
    refused = people["editor"].post(f"/routes/{route.pk}/", {**FORM, "mcp_servers": "probe"})
    assert refused.status_code == 200  # the form again, with the field's error
    assert "may not attach MCP server(s) probe" in refused.content.decode()
    made = people["editor"].post("/routes/new/", {**FORM, "name": "mine", "mcp_servers": "probe"})
    assert made.status_code == 200 and not Route.objects.filter(name="mine").exists()
    route.refresh_from_db()
    assert route.mcp_servers == []


def test_an_admin_attaches_and_an_editor_keeps_or_removes_it(people) -> None:
    route = people["route"]
    attached = people["admin"].post(f"/routes/{route.pk}/", {**FORM, "mcp_servers": "probe"})
    assert attached.status_code == 302
    kept = people["editor"].post(
        f"/routes/{route.pk}/", {**FORM, "mcp_servers": "probe", "timeout": 30}
    )
    assert kept.status_code == 302
    route.refresh_from_db()
    assert route.mcp_servers == ["probe"]
    removed = people["editor"].post(f"/routes/{route.pk}/", FORM)
    assert removed.status_code == 302
    route.refresh_from_db()
    assert route.mcp_servers == []


def test_an_editor_may_not_attach_a_server_through_the_api(people) -> None:
    route = people["route"]
    patch = people["editor"].patch(
        f"/api/routes/{route.pk}", json.dumps({"mcp_servers": ["probe"]}), "application/json"
    )
    assert patch.status_code == 403 and "may not attach" in patch.json()["detail"]
    created = people["editor"].post(
        "/api/routes/",
        json.dumps({"name": "mine", "mcp_servers": ["probe"], "deployments": []}),
        "application/json",
    )
    assert created.status_code == 403 and not Route.objects.filter(name="mine").exists()
    route.refresh_from_db()
    assert route.mcp_servers == []
    allowed = people["admin"].patch(
        f"/api/routes/{route.pk}", json.dumps({"mcp_servers": ["probe"]}), "application/json"
    )
    assert allowed.status_code == 200
    kept = people["editor"].patch(
        f"/api/routes/{route.pk}",
        json.dumps({"mcp_servers": ["probe"], "timeout": 30}),
        "application/json",
    )
    assert kept.status_code == 200
