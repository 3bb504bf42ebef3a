"""The one way an MCP server is saved (``save``): a stdio server only for who may run
commands on the host, references judged before saving; ``save_server`` validating,
keeping the stored URL behind its mask, sealing the bearer and refusing a sampling
route that does not exist; ``delete_server``; and ``probe``'s failure said without a
secret."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gateway.access import roles
from gateway.access.authorization import Denied
from gateway.base.secrets import crypto
from gateway.features.mcp import save
from gateway.models import McpServer, Route

ADMIN = roles.Actor(roles.ADMIN, user_id=1)
HTTP = {"name": "docs", "transport": "streamable_http", "url": "https://docs.example/mcp"}


def test_a_stdio_server_is_the_operators_unless_they_allow_it(db, settings) -> None:
    settings.SWITCHYARD_STDIO_MCP_SERVERS = False
    stdio = {"name": "local", "transport": "stdio", "command": "python"}
    with pytest.raises(Denied, match="run commands on the gateway's host"):
        save.check_save(ADMIN, None, stdio, bearer=None)
    existing = McpServer.objects.create(name="local", transport="stdio", command="python")
    with pytest.raises(Denied):
        save.check_save(ADMIN, existing, {"enabled": False}, bearer=None)  # changing one
    save.check_save(ADMIN, None, HTTP, bearer=None)  # an HTTP server is the admin's
    settings.SWITCHYARD_STDIO_MCP_SERVERS = True
    save.check_save(ADMIN, None, stdio, bearer=None)


def test_a_changed_command_is_no_longer_the_operators(db) -> None:
    server = McpServer.objects.create(
        name="local", transport="stdio", command="python", from_operator=True
    )
    save.check_references(server, {"command": "python"}, None)
    assert server.from_operator
    save.check_references(server, {"command": "bash"}, None)
    assert not server.from_operator


def test_a_reference_the_operator_does_not_allow_is_refused(db, monkeypatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV_ALLOW", "")
    with pytest.raises(ValidationError):
        save.check_save(ADMIN, None, HTTP, bearer="os.environ/SOME_SECRET_TOKEN")


def test_the_fields_a_save_would_leave(db) -> None:
    server = McpServer(name="docs", url="https://docs.example/mcp")
    server.set_headers({"X-Team": "blue"})
    server.set_bearer("os.environ/DOCS_TOKEN")
    kept = save.mcp_fields({}, None, server)
    assert kept["bearer"] == "os.environ/DOCS_TOKEN" and kept["headers"] == server.headers
    changed = save.mcp_fields({"headers": {"X-Team": "red"}}, "new", server)
    assert changed == {"headers": {"X-Team": "red"}, "env": server.env, "bearer": "new"}
    assert save.mcp_fields({}, None, None) == {"headers": None, "env": None, "bearer": ""}


def test_save_creates_changes_and_deletes(db) -> None:
    server = save.save_server(
        None, {**HTTP, "headers": {"X-Team": "blue"}}, bearer="sk-docs-123456"
    )
    stored = McpServer.objects.get(name="docs")
    assert (
        stored.pk == server.pk
        and stored.bearer_ref == ""
        and "sk-docs-123456" not in str(stored.__dict__)
    )
    assert crypto.decrypt(stored.bearer_ciphertext) == "sk-docs-123456"
    again = save.save_server(stored, {"url": stored.url_display, "description": "the docs"})
    assert McpServer.objects.get(pk=again.pk).url == "https://docs.example/mcp"  # mask kept
    assert McpServer.objects.get(pk=again.pk).description == "the docs"
    save.delete_server(again)
    assert not McpServer.objects.exists()


def test_a_save_that_does_not_validate_stores_nothing(db) -> None:
    with pytest.raises(ValidationError) as bad:
        save.save_server(None, {**HTTP, "sampling_route": "no-such-route"})
    assert "no route named 'no-such-route'" in str(bad.value)
    with pytest.raises(ValidationError):
        save.save_server(None, {**HTTP, "name": "bad name!"})
    assert not McpServer.objects.exists()
    Route.objects.create(name="helper")
    assert save.save_server(None, {**HTTP, "sampling_route": "helper"}).sampling_route == "helper"


async def test_a_probe_that_cannot_connect_says_so(db, settings) -> None:
    settings.SWITCHYARD_MCP_HOSTED_ALLOW = "127.0.0.1"
    server = McpServer(name="down", url="http://127.0.0.1:9/mcp", connect_timeout=2, call_timeout=2)
    server.set_bearer("sk-never-shown-123")
    result = await save.probe(server)
    assert not result.ok and result.error and result.tools == []
    assert "sk-never-shown-123" not in result.error
    assert result.elapsed_ms >= 0
