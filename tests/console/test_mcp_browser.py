"""The MCP page in headless Chromium: add a stdio server written with the SDK, test the
connection (tools with schemas), call a tool from the JSON form, see the call under
recent calls and in the request log, and give a key MCP permissions. Screenshots:
tests/screenshots.py says where."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.console.browser_support import CHROMIUM, PASSWORD, USER, shot, sign_in
from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.browser

SCRIPT = str(
    Path(__file__).resolve().parent.parent / "gateway" / "features" / "mcp" / "mcp_test_server.py"
)
TOKEN = "mcp-browser-Token-88f1"


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """A gateway whose operator lets admins register stdio servers from the console
    (``SWITCHYARD_STDIO_MCP_SERVERS``: off by default, docs/security.md)."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed")
    env = {"SWITCHYARD_STDIO_MCP_SERVERS": "1"}
    with running_gateway(tmp_path_factory.mktemp("mcp-console"), env=env) as gateway:
        gateway.shell(
            "from django.contrib.auth.models import User; "
            f"User.objects.create_superuser({USER!r}, '', {PASSWORD!r})"
        )
        yield gateway


def test_add_test_and_call_an_mcp_server(page, gw: Gateway) -> None:
    sign_in(page)
    page.click("nav summary:has-text('Access')")
    page.click("nav >> text=MCP")
    page.wait_for_url(re.compile(r"/mcp-servers/$"))
    shot(page, "mcp-empty")
    page.click("text=Add MCP server")
    page.fill("#id_name", "local")
    page.select_option("#id_transport", "stdio")
    page.fill("#id_description", "Test tools (stdio)")
    page.fill("#id_command", sys.executable)
    page.fill("#id_args", f'["{SCRIPT}"]')
    page.fill("#id_env", json.dumps({"TOOL_TOKEN": TOKEN}))
    page.fill("#id_call_timeout", "5")
    shot(page, "mcp-form")
    page.click("button:has-text('Add MCP server')")
    page.wait_for_url(re.compile(r"/mcp-servers/\d+/tools/$"))
    assert page.locator(".alert.ok").first.is_visible()
    assert page.locator("h2.mono", has_text="add").first.is_visible()
    page.locator("#tool-add summary").click()
    assert '"integer"' in page.locator("#tool-add pre").inner_text()
    page.fill("#tool-add textarea", '{"a": 20, "b": 22}')
    page.click("#tool-add button:has-text('Call add')")
    page.locator("#tool-add .call-result .alert.ok").wait_for()
    assert '"42"' in page.locator("#tool-add .call-result pre").inner_text()
    page.fill("#tool-add textarea", '{"a": "x"}')
    page.click("#tool-add button:has-text('Call add')")
    page.locator("#tool-add .call-result .alert.error").wait_for()
    assert "invalid arguments" in page.locator("#tool-add .call-result").inner_text()
    shot(page, "mcp-tools")
    assert TOKEN not in page.content()

    calls = page.locator("#recent-calls-table td", has_text="local__add")
    for _ in range(50):  # the journal writes in batches, off the request path
        page.goto("/mcp-servers/")
        if calls.count() == 2:
            break
        page.wait_for_timeout(200)
    assert calls.count() == 2
    shot(page, "mcp-list")

    page.goto("/logs/?dialect=mcp")
    assert page.locator("td", has_text="mcp").first.is_visible()
    shot(page, "mcp-logs")

    page.goto("/keys/")
    page.fill("#id_name", "agent")
    page.fill("#id_mcp_allowed", "local__add, web")
    page.click("button:has-text('Create key')")
    page.locator("#new-key").wait_for()
    assert page.locator(".pill.mcp", has_text="local__add").is_visible()
    shot(page, "mcp-key")

    # the edit form shows the key's MCP permissions again
    page.goto("/mcp-servers/")
    page.locator("tbody", has_text="local").locator("a:has-text('Edit')").click()
    page.wait_for_url(re.compile(r"/mcp-servers/\d+/$"))
    assert TOKEN not in page.content() and page.locator("#id_command").input_value()
