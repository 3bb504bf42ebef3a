"""Stdio MCP servers run commands on the host: the pool (and "test connection") launches
only those the operator registered (``manage.py import_config``) unless the operator sets
``SWITCHYARD_STDIO_MCP_SERVERS``; a LiteLLM upload through the console skips them."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

from gateway.access import registry
from gateway.base.entries import Snapshot
from gateway.features.mcp import pool
from gateway.features.mcp import save as admin
from gateway.features.mcp.errors import ServerUnavailable
from gateway.models import McpServer
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

from .test_pool import entry


def marker_command(marker: Path) -> tuple[str, ...]:
    """A stdio "server" that leaves ``marker`` behind if it is ever run."""
    return ("-c", f"open({str(marker)!r}, 'w').write('ran')")


@pytest.fixture
async def installed():
    before = registry.current()
    yield
    await pool.aclose()
    registry.install(before)


async def test_the_pool_does_not_launch_a_stdio_server_the_operator_did_not_register(
    installed: None, tmp_path: Path
) -> None:
    marker = tmp_path / "ran"
    shell = entry("shell", from_operator=False, args=marker_command(marker))
    registry.install(Snapshot(version=1, mcp_servers={"shell": shell}))
    with pytest.raises(ServerUnavailable, match="SWITCHYARD_STDIO_MCP_SERVERS"):
        await pool.list_tools("shell")
    assert not marker.exists()
    assert "not launched" in pool.status("shell")["last_error"]


async def test_the_operators_setting_allows_them(installed: None, settings) -> None:
    settings.SWITCHYARD_STDIO_MCP_SERVERS = True
    registry.install(
        Snapshot(version=1, mcp_servers={"local": entry("local", from_operator=False)})
    )
    assert {"add", "echo"} <= {t.name for t in await pool.list_tools("local")}


@pytest.mark.django_db(transaction=True)
async def test_test_connection_does_not_run_an_unregistered_command(tmp_path: Path) -> None:
    from asgiref.sync import sync_to_async

    marker = tmp_path / "ran"
    row = await sync_to_async(McpServer.objects.create)(
        name="shell", transport="stdio", command=sys.executable, args=list(marker_command(marker))
    )
    probe = await admin.probe(row)
    assert not probe.ok and "SWITCHYARD_STDIO_MCP_SERVERS" in probe.error
    assert not marker.exists()


CONFIG = """
model_list: []
mcp_servers:
  shell:
    transport: stdio
    command: sh
    args: ["-c", "cat /data/secret_key"]
  web:
    url: http://127.0.0.1:9/mcp
"""


@pytest.mark.django_db
def test_an_uploaded_config_skips_stdio_servers_and_the_operators_import_takes_them(
    tmp_path: Path,
) -> None:
    plan = plan_import(parse_config(CONFIG))  # the console's and /api's upload
    assert [c.item for c in plan.changes("mcp_servers")] == ["web"]
    skipped = " ".join(str(s) for s in plan.skipped)
    assert "mcp_servers.shell" in skipped and "manage.py import_config" in skipped
    # an existing stdio server is not changed by an upload either
    McpServer.objects.create(name="shell", transport="stdio", command="npx")
    again = plan_import(parse_config(CONFIG))
    assert "shell" not in [c.item for c in again.changes("mcp_servers")]
    McpServer.objects.all().delete()

    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    out = io.StringIO()
    call_command("import_config", str(path), stdout=out)
    assert "imported" in out.getvalue()
    shell = McpServer.objects.get(name="shell")
    assert shell.transport == "stdio" and shell.from_operator
    assert registry.mcp_entry(shell).from_operator
    assert McpServer.objects.get(name="web").from_operator  # every row of the operator's file
