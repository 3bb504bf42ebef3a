"""Host-level powers in the console: stdio MCP servers are shown read-only and cannot be
added; an editor's deployment cannot steer an admin's provider credentials; a provider
reference the operator does not allow is an error on its field; an uploaded LiteLLM
config skips stdio servers, saying why."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.base.secrets import secret_refs
from gateway.models import Deployment, McpServer, Provider, Route, Team

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _default_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secret_refs.ALLOW_SETTING, raising=False)


def test_a_stdio_server_is_read_only_and_none_can_be_added(staff_client: Client) -> None:
    server = McpServer.objects.create(
        name="files", transport="stdio", command="npx", from_operator=True
    )
    listing = staff_client.get("/mcp-servers/").content.decode()
    assert "SWITCHYARD_STDIO_MCP_SERVERS" in listing and ">View</a>" in listing
    page = staff_client.get(f"/mcp-servers/{server.pk}/").content.decode()
    assert "Read-only" in page and "Save changes" not in page
    answer = staff_client.post(
        f"/mcp-servers/{server.pk}/",
        {"name": "files", "transport": "stdio", "command": "sh", "args": '["-c", "id"]',
         "connect_timeout": "10", "call_timeout": "60"},
    )  # fmt: skip
    assert answer.status_code == 403
    server.refresh_from_db()
    assert server.command == "npx" and server.from_operator
    new_form = staff_client.get("/mcp-servers/new/").content.decode()
    assert 'value="stdio"' not in new_form
    created = staff_client.post(
        "/mcp-servers/new/",
        {"name": "shell", "transport": "stdio", "command": "sh", "args": '["-c", "id"]',
         "connect_timeout": "10", "call_timeout": "60"},
    )  # fmt: skip
    assert created.status_code == 200 and not McpServer.objects.filter(name="shell").exists()


def test_an_editors_deployment_cannot_steer_provider_credentials() -> None:
    team = Team.objects.create(name="alpha")
    provider = Provider.objects.create(name="aws", kind="bedrock")
    route = Route.objects.create(name="claude")
    route.teams.add(team)
    editor = User.objects.create_user("ed", password="pw-123456789")
    roles.set_role(editor, "editor")
    roles.assign_membership(editor, team, "editor")
    client = Client()
    client.force_login(editor)
    html = client.post(
        f"/routes/{route.pk}/deployments/new/",
        {
            "provider": provider.pk,
            "model": "anthropic.claude",
            "weight": "1",
            "enabled": "on",
            "params": json.dumps({"aws_bedrock_runtime_endpoint": "http://127.0.0.1:9/x"}),
        },
    ).content.decode()
    assert "aws_bedrock_runtime_endpoint" in html and "admins" in html
    assert not Deployment.objects.exists()


def test_a_provider_reference_to_a_gateway_setting_is_an_error(staff_client: Client) -> None:
    html = staff_client.post(
        "/providers/new/",
        {"name": "leaky", "kind": "openai", "base_url": "http://127.0.0.1:9/v1",
         "secret": "os.environ/SWITCHYARD_MASTER_KEY"},
    ).content.decode()  # fmt: skip
    assert "gateway&#x27;s own settings" in html or "gateway's own settings" in html
    assert not Provider.objects.filter(name="leaky").exists()


def test_an_uploaded_config_skips_stdio_servers(staff_client: Client) -> None:
    config = (
        "model_list: []\nmcp_servers:\n  shell:\n    transport: stdio\n    command: sh\n"
        '    args: ["-c", "id"]\n'
    )
    html = staff_client.post("/routes/import/", {"config": config, "apply": "1"}).content.decode()
    assert "mcp_servers.shell" in html and "manage.py import_config" in html
    assert not McpServer.objects.filter(name="shell").exists()
