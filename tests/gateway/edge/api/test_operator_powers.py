"""Host-level powers through /api: references the operator does not allow are a 422
naming the setting, in every field that takes them; editors cannot point a provider's
credentials elsewhere through deployment params; stdio MCP servers are the operator's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.base.secrets import secret_refs
from gateway.models import Deployment, McpServer, Provider, Route, Team

pytestmark = pytest.mark.django_db

JSON = "application/json"


@pytest.fixture(autouse=True)
def _default_allow_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(secret_refs.ALLOW_SETTING, raising=False)


def signed_in(name: str, role: str, team: Team | None = None) -> Client:
    user = User.objects.create_user(name, password="pw-123456789")
    roles.set_role(user, role)
    if team is not None:
        roles.assign_membership(user, team, role)
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def world() -> dict:
    team = Team.objects.create(name="alpha")
    bedrock = Provider.objects.create(
        name="aws", kind="bedrock", settings={"aws_region_name": "us-east-1"}
    )
    route = Route.objects.create(name="claude")
    route.teams.add(team)
    return {
        "team": team,
        "bedrock": bedrock,
        "route": route,
        "admin": signed_in("ada", "admin"),
        "editor": signed_in("ed", "editor", team),
    }


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"secret": "os.environ/SWITCHYARD_MASTER_KEY"}, "secret"),
        ({"base_url": "os.environ/DATABASE_URL"}, "base_url"),
        ({"extra_headers": {"X-Leak": "os.environ/SECRET_KEY"}}, "extra_headers"),
        ({"api_version": "os.environ/PGPASSWORD"}, "api_version"),
    ],
)
def test_a_provider_reference_the_operator_does_not_allow_is_a_422(
    world: dict, payload: dict, field: str
) -> None:
    body = {"name": "leaky", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", **payload}
    answer = world["admin"].post("/api/providers/", body, content_type=JSON)
    assert answer.status_code == 422, answer.content
    message = " ".join(answer.json()["errors"][field])
    assert "SWITCHYARD_ENV_ALLOW" in message or "gateway's own settings" in message
    assert not Provider.objects.filter(name="leaky").exists()
    settings = world["admin"].patch(
        f"/api/providers/{world['bedrock'].pk}",
        {"settings": {"aws_access_key_id": "os.environ/SWITCHYARD_MASTER_KEY"}},
        content_type=JSON,
    )
    assert settings.status_code == 422 and "settings" in settings.json()["errors"]
    ok = world["admin"].post(
        "/api/providers/",
        {"name": "fine", "kind": "openai", "base_url": "https://api.openai.com/v1",
         "secret": "os.environ/OPENAI_API_KEY"},
        content_type=JSON,
    )  # fmt: skip
    assert ok.status_code == 201, ok.content


def test_an_editor_cannot_steer_an_admins_provider_credentials(world: dict) -> None:
    """H3: the endpoint and key id of an admin's Bedrock provider are the admin's."""
    url = f"/api/routes/{world['route'].pk}/deployments"
    steering = {
        "provider": "aws",
        "model": "anthropic.claude",
        "params": {
            "aws_bedrock_runtime_endpoint": "https://vpce-1.bedrock-runtime.us-east-1.vpce.amazonaws.com",
            "aws_access_key_id": "os.environ/AWS_ACCESS_KEY_ID",
        },
    }
    answer = world["editor"].post(url, steering, content_type=JSON)
    assert answer.status_code == 422, answer.content
    message = " ".join(answer.json()["errors"]["params"])
    assert "aws_bedrock_runtime_endpoint" in message and "admins" in message
    assert not Deployment.objects.exists()
    # other params are the editor's to set
    plain = {"provider": "aws", "model": "anthropic.claude", "params": {"temperature": 0.2}}
    created = world["editor"].post(url, plain, content_type=JSON)
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    patched = world["editor"].patch(
        f"{url}/{pk}", {"params": {"aws_region_name": "eu-west-1"}}, content_type=JSON
    )
    assert patched.status_code == 422 and "aws_region_name" in str(patched.json())
    # an admin may; the editor may then change other fields and keep the admin's params
    assert world["admin"].post(url, steering, content_type=JSON).status_code == 201
    admins = Deployment.objects.exclude(pk=pk).get()
    kept = {**admins.params, "temperature": 0.5}
    again = world["editor"].patch(f"{url}/{admins.pk}", {"params": kept}, content_type=JSON)
    assert again.status_code == 200, again.content
    moved = world["editor"].patch(
        f"{url}/{admins.pk}",
        {"provider": Provider.objects.create(name="aws2", kind="bedrock").pk},
        content_type=JSON,
    )  # the admin's endpoint must not carry another provider's credentials
    assert moved.status_code == 422 and "params" in moved.json()["errors"]


def test_stdio_mcp_servers_are_the_operators(world: dict, settings) -> None:
    """H4: no stdio server from /api, nor a change to one, unless the operator allows it."""
    admin = world["admin"]
    stdio = {"name": "shell", "transport": "stdio", "command": "sh", "args": ["-c", "id"]}
    refused = admin.post("/api/mcp-servers/", stdio, content_type=JSON)
    assert refused.status_code == 403, refused.content
    assert "SWITCHYARD_STDIO_MCP_SERVERS" in refused.json()["detail"]
    assert not McpServer.objects.filter(name="shell").exists()
    web = admin.post(
        "/api/mcp-servers/", {"name": "web", "url": "http://127.0.0.1:9/mcp"}, content_type=JSON
    ).json()
    turned = admin.patch(
        f"/api/mcp-servers/{web['id']}", {"transport": "stdio", "command": "sh"}, content_type=JSON
    )
    assert turned.status_code == 403
    assert McpServer.objects.get(pk=web["id"]).transport == "streamable_http"
    operators = McpServer.objects.create(
        name="files", transport="stdio", command="npx", from_operator=True
    )
    changed = admin.patch(f"/api/mcp-servers/{operators.pk}", {"command": "sh"}, content_type=JSON)
    assert changed.status_code == 403 and McpServer.objects.get(pk=operators.pk).command == "npx"
    assert admin.get(f"/api/mcp-servers/{operators.pk}").json()["command"] == "npx"  # readable
    assert admin.delete(f"/api/mcp-servers/{operators.pk}").status_code == 204
    settings.SWITCHYARD_STDIO_MCP_SERVERS = True
    allowed = admin.post("/api/mcp-servers/", stdio, content_type=JSON)
    assert allowed.status_code == 201
    assert McpServer.objects.get(name="shell").from_operator is False


@pytest.mark.parametrize(
    "payload",
    [
        {"bearer": "os.environ/SWITCHYARD_MASTER_KEY"},
        {"headers": {"X-Key": "os.environ/SECRET_KEY"}},
        {"url": "os.environ/REDIS_URL"},
    ],
)
def test_mcp_server_references_follow_the_allow_list(world: dict, payload: dict) -> None:
    body = {"name": "leaky", "url": "http://127.0.0.1:9/mcp", **payload}
    answer = world["admin"].post("/api/mcp-servers/", body, content_type=JSON)
    assert answer.status_code == 422, answer.content
    assert "gateway's own settings" in str(answer.json()["errors"])
    assert not McpServer.objects.filter(name="leaky").exists()
