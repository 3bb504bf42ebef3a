"""/api/mcp-servers: CRUD with the master key, secrets write-only and stored encrypted,
validation, test connection and a call against a stdio server written with the SDK."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.test import Client

from gateway.access import registry
from gateway.models import McpServer

MASTER = "sy-master-mcp-api-test"
TOKEN = "literal-bearer-Unmistakable-9911"
SCRIPT = str(Path(__file__).resolve().parents[2] / "features" / "mcp" / "mcp_test_server.py")


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def test_requires_the_master_key(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    assert Client().get("/api/mcp-servers/").status_code == 401


@pytest.mark.django_db(transaction=True)
def test_crud_with_write_only_secrets(api: Client, monkeypatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV_ENDPOINTS", "DOCS_REF=https://mcp.example")
    created = api.post(
        "/api/mcp-servers/",
        {
            "name": "docs",
            "url": "https://mcp.example/mcp",
            "bearer": TOKEN,
            "headers": {"X-Team": "team-secret-value-1", "X-Ref": "os.environ/DOCS_REF"},
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert TOKEN not in created.content.decode() and "team-secret-value-1" not in body["headers"]
    assert body["headers"]["X-Ref"] == "os.environ/DOCS_REF"
    row = McpServer.objects.get(name="docs")
    assert TOKEN not in row.bearer_ciphertext and row.stored_bearer() == TOKEN
    assert row.stored_headers()["X-Team"] == "team-secret-value-1"
    assert registry.current().mcp_servers["docs"].bearer == TOKEN  # live reload
    # the mask sent back keeps the stored value
    patched = api.patch(
        f"/api/mcp-servers/{row.pk}",
        {"headers": body["headers"], "call_timeout": 5},
        content_type="application/json",
    )
    assert patched.status_code == 200, patched.content
    row.refresh_from_db()
    assert row.stored_headers()["X-Team"] == "team-secret-value-1" and row.call_timeout == 5
    assert registry.current().mcp_servers["docs"].call_timeout == 5
    assert body["price_usd"] == "0"  # free unless priced
    priced = api.patch(
        f"/api/mcp-servers/{row.pk}", {"price_usd": "0.25"}, content_type="application/json"
    )
    assert priced.status_code == 200 and priced.json()["price_usd"] == "0.25", priced.content
    assert str(registry.current().mcp_servers["docs"].price_usd) == "0.250000"
    negative = api.patch(
        f"/api/mcp-servers/{row.pk}", {"price_usd": "-1"}, content_type="application/json"
    )
    assert negative.status_code == 422 and "price_usd" in negative.content.decode()
    assert api.delete(f"/api/mcp-servers/{row.pk}").status_code == 204
    assert "docs" not in registry.current().mcp_servers


@pytest.mark.parametrize(
    "payload,field",
    [
        ({"name": "bad__name", "url": "http://x/mcp"}, "name"),
        ({"name": "a", "url": "ftp://x"}, "url"),
        ({"name": "a", "transport": "stdio"}, "command"),
        ({"name": "a", "url": "http://x/mcp", "bearer": "os.environ/1BAD"}, "bearer"),
        ({"name": "a", "url": "http://x/mcp", "sampling_route": "no-such-route"}, "sampling_route"),
    ],
)
def test_invalid_input_is_a_422(api: Client, payload: dict, field: str, settings) -> None:
    settings.SWITCHYARD_STDIO_MCP_SERVERS = True  # the operator allows stdio here
    answer = api.post("/api/mcp-servers/", payload, content_type="application/json")
    assert answer.status_code == 422 and field in answer.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_test_connection_and_call(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    settings.SWITCHYARD_STDIO_MCP_SERVERS = True  # the operator allows stdio from /api
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    created = api.post(
        "/api/mcp-servers/",
        {"name": "local", "transport": "stdio", "command": sys.executable, "args": [SCRIPT]},
        content_type="application/json",
    ).json()
    probe = api.post(f"/api/mcp-servers/{created['id']}/test").json()
    assert probe["ok"], probe
    add = next(t for t in probe["tools"] if t["name"] == "add")
    assert add["input_schema"]["properties"]["a"]["type"] == "integer"
    quitter = api.post(
        "/api/mcp-servers/",
        {
            "name": "quitter",
            "transport": "stdio",
            "command": sys.executable,
            "args": [SCRIPT, "exit"],
            "connect_timeout": 3,
        },
        content_type="application/json",
    ).json()
    failed = api.post(f"/api/mcp-servers/{quitter['id']}/test").json()
    assert not failed["ok"] and "quitter" in failed["error"]


def test_keys_api_takes_mcp_permissions(api: Client) -> None:
    created = api.post(
        "/api/keys/",
        {"name": "agent", "mcp_allowed": ["web", "local__add"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["mcp_allowed"] == ["web", "local__add"]
    pk = created.json()["id"]
    patched = api.patch(f"/api/keys/{pk}", {"mcp_allowed": ["*"]}, content_type="application/json")
    assert patched.json()["mcp_allowed"] == ["*"]
    bad = api.patch(
        f"/api/keys/{pk}", {"mcp_allowed": ["no spaces"]}, content_type="application/json"
    )
    assert bad.status_code == 422 and "mcp_allowed" in bad.json()["errors"]


@pytest.mark.django_db(transaction=True)
def test_team_mcp_bound_in_the_api(api: Client) -> None:
    """A team's mcp_allowed (null: no bound) is set through /api/teams; a key of the
    team shows its own list and the effective one, and the registry enforces the latter."""
    team = api.post("/api/teams/", {"name": "narrow"}, content_type="application/json").json()
    assert team["mcp_allowed"] is None
    key = api.post(
        "/api/keys/",
        {"name": "k", "team": "narrow", "mcp_allowed": ["web", "local__add"]},
        content_type="application/json",
    ).json()
    assert key["mcp_effective"] == ["local__add", "web"]
    patched = api.patch(
        f"/api/teams/{team['id']}",
        {"mcp_allowed": ["web__get", "local"]},
        content_type="application/json",
    ).json()
    assert patched["mcp_allowed"] == ["web__get", "local"]
    shown = api.get(f"/api/keys/{key['id']}").json()
    assert shown["mcp_allowed"] == ["web", "local__add"]
    assert shown["mcp_effective"] == ["local__add", "web__get"]
    entry = next(k for k in registry.current().keys.values() if k.id == key["id"])
    assert entry.mcp_allowed == {"web__get", "local__add"}
    bad = api.patch(
        f"/api/teams/{team['id']}", {"mcp_allowed": ["bad name"]}, content_type="application/json"
    )
    assert bad.status_code == 422 and "mcp_allowed" in bad.json()["errors"]
    cleared = api.patch(
        f"/api/teams/{team['id']}", {"mcp_allowed": None}, content_type="application/json"
    ).json()
    assert cleared["mcp_allowed"] is None
    assert api.get(f"/api/keys/{key['id']}").json()["mcp_effective"] == ["local__add", "web"]


@pytest.mark.django_db(transaction=True)
def test_sampling_route_is_kept_and_reaches_the_registry(api: Client) -> None:
    from gateway.models import Route

    Route.objects.create(name="sampler")
    created = api.post(
        "/api/mcp-servers/",
        {"name": "asks", "url": "http://x/mcp", "sampling_route": "sampler"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["sampling_route"] == "sampler"
    assert registry.current().mcp_servers["asks"].sampling_route == "sampler"
    pk = created.json()["id"]
    cleared = api.patch(
        f"/api/mcp-servers/{pk}", {"sampling_route": ""}, content_type="application/json"
    )
    assert cleared.status_code == 200 and cleared.json()["sampling_route"] == ""
    assert registry.current().mcp_servers["asks"].sampling_route == ""


@pytest.mark.django_db(transaction=True)
def test_a_tool_call_is_audited_and_journaled_as_its_caller(
    settings, monkeypatch, snapshot_reset
) -> None:
    """L22: ``/call`` was no audit row and its journal row named the master key, whoever
    called. Now an admin's call is an audit row naming them and journaled as their
    console key; a management key's, as that key; the master key's, as the master key."""
    import mcp_types as types
    from django.contrib.auth.models import User

    from gateway import journal
    from gateway.access import keys, roles
    from gateway.features.mcp import pool
    from gateway.models import ApiKey
    from gateway.models.telemetry import AuditEvent

    settings.SWITCHYARD_MASTER_KEY = MASTER
    settings.REDIS_URL = ""
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)

    async def list_tools(server: str) -> list[types.Tool]:
        return [types.Tool(name="echo", input_schema={"type": "object"})]

    async def call_tool(server: str, tool: str, arguments: object, **_: object):
        return types.CallToolResult(content=[types.TextContent(type="text", text="hi")])

    monkeypatch.setattr(pool, "list_tools", list_tools)
    monkeypatch.setattr(pool, "call_tool", call_tool)
    server = McpServer.objects.create(name="docs", url="http://127.0.0.1:9/mcp")
    ada = User.objects.create_user("ada", password="pw-123456789")
    roles.set_role(ada, "admin")
    path, call = f"/api/mcp-servers/{server.pk}/call", {"tool": "echo", "arguments": {}}

    session = Client()
    session.force_login(ada)
    reply = session.post(path, call, content_type="application/json")
    assert reply.status_code == 200 and reply.json()["is_error"] is False, reply.content
    event = AuditEvent.objects.get(action="tool_call")
    assert (event.actor, event.actor_id, event.source) == ("ada", str(ada.pk), "api")
    assert event.object_name == "docs" and event.changes["tool"] == "echo"
    (row,) = recorded
    assert row.key_id is not None and row.key_name != "master"
    assert ApiKey.objects.get(pk=row.key_id).user == ada  # her console key

    made = keys.create_key(name="ops", user=ada, scopes="management", minted_by=ada.pk)
    registry.rebuild()
    by_key = Client(HTTP_AUTHORIZATION=f"Bearer {made.raw}")
    assert by_key.post(path, call, content_type="application/json").status_code == 200
    assert recorded[-1].key_id == made.key.pk and recorded[-1].key_name == "ops"
    assert AuditEvent.objects.filter(action="tool_call", actor="ada's management key").exists()

    master = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    assert master.post(path, call, content_type="application/json").status_code == 200
    assert recorded[-1].key_id is None and recorded[-1].key_name == "master"
    assert AuditEvent.objects.filter(action="tool_call", actor="master key").count() == 1

    # whom the call is for and its tags, as on /mcp
    tagged = Client(
        HTTP_AUTHORIZATION=f"Bearer {MASTER}",
        HTTP_X_SWITCHYARD_USER=" customer-42 ",
        HTTP_X_SWITCHYARD_TAGS="project:docs",
    )
    assert tagged.post(path, call, content_type="application/json").status_code == 200
    assert recorded[-1].end_user == "customer-42"
    assert "project:docs" in recorded[-1].tags
