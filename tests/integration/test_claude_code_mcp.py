"""Claude Code with ``--mcp-config`` pointing at the gateway's ``/mcp`` (a virtual key
in its headers), offline: the mock Anthropic upstream asks for the MCP tool
``mcp__switchyard__local__add``; Claude Code calls it through ``/mcp`` (the gateway runs
the stdio test server written with the SDK), and the final answer carries the tool's
result. The call is journaled."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.integration.test_mcp_sessions_live import initialize, result, rpc

from .conftest import Stack
from .mock_upstream import MockUpstream, Reply, Seen, ToolUse
from .test_claude_code import CLI_TIMEOUT, claude_binary

pytestmark = pytest.mark.cli

SCRIPT = (
    Path(__file__).resolve().parent.parent / "gateway" / "features" / "mcp" / "mcp_test_server.py"
)
TOOL = "mcp__switchyard__local__add"


def wait_until_offered(url: str, key: str, tool: str = "local__add", within: float = 60) -> None:
    """Wait until ``/mcp`` lists ``tool`` to ``key`` on a few connections in a row (each
    may reach either worker): every worker's registry poll has seen the new server and
    key, and the server has started. A fixed sleep lost that race on a loaded machine."""
    deadline, listed, names = time.monotonic() + within, 0, "nothing"
    while listed < 4:
        if time.monotonic() > deadline:
            raise AssertionError(f"{tool} was not listed within {within} s: {names}")
        try:
            session = initialize(url, key)
            tools = result(rpc(url, "tools/list", {}, session=session, key=key))["tools"]
            names = str([t["name"] for t in tools])
            listed = listed + 1 if tool in names else 0
        except (httpx.HTTPError, AssertionError, KeyError) as error:
            names, listed = repr(error), 0
        if listed < 4:
            time.sleep(0.1 if listed else 0.25)


def _tool_result(seen: Seen) -> str | None:
    for message in seen.body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):
            for block in content:
                if (
                    isinstance(block, dict)
                    and block.get("type") == "tool_result"
                    and block.get("tool_use_id") == "toolu_mcp1"
                ):
                    inner = block.get("content")
                    return json.dumps(inner) if not isinstance(inner, str) else inner
    return None


def answer(seen: Seen) -> Reply:
    result = _tool_result(seen)
    if result is not None:
        return Reply(text=f"The tool said {result}")
    names = [t.get("name") for t in seen.body.get("tools", []) or []]
    if TOOL in names:
        return Reply(
            tool_calls=[ToolUse(id="toolu_mcp1", name=TOOL, arguments='{"a": 20, "b": 22}')]
        )
    searched = "toolu_search" in json.dumps(seen.body.get("messages", []))
    if "ToolSearch" in names and not searched:  # a release that defers MCP tools (2.1.329+)
        query = json.dumps({"query": f"select:{TOOL}", "max_results": 5})
        return Reply(tool_calls=[ToolUse(id="toolu_search", name="ToolSearch", arguments=query)])
    waited = "toolu_wait" in json.dumps(seen.body.get("messages", []))
    if "WaitForMcpServers" in names and not waited:  # Claude Code connects in the background
        return Reply(
            tool_calls=[ToolUse(id="toolu_wait", name="WaitForMcpServers", arguments="{}")]
        )
    return Reply(text="no tool offered")


@pytest.mark.timeout(CLI_TIMEOUT + 90)
def test_claude_code_calls_a_tool_through_the_gateway_mcp_endpoint(
    stack: Stack, mock: MockUpstream, tmp_path: Path
) -> None:
    out = stack.gw.shell(
        "import sys, json\n"
        "from gateway.models import McpServer\n"
        "from gateway.access import keys\n"
        f"McpServer.objects.create(name='local', transport='stdio', command=sys.executable, args=[{str(SCRIPT)!r}], from_operator=True)\n"
        "print(json.dumps(keys.create_key(name='claude-mcp', mcp_allowed=['local__add']).raw))"
    )
    key = json.loads(out.strip().splitlines()[-1])
    wait_until_offered(stack.url, key)
    mock.default = answer
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    config = tmp_path / "mcp.json"
    config.write_text(
        json.dumps(
            {
                "mcpServers": {
                    "switchyard": {
                        "type": "http",
                        "url": stack.url + "/mcp",
                        "headers": {"Authorization": f"Bearer {key}"},
                    }
                }
            }
        )
    )
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": stack.url,
        "ANTHROPIC_AUTH_TOKEN": stack.key,
        "ANTHROPIC_MODEL": "mock-claude",
        "ANTHROPIC_SMALL_FAST_MODEL": "mock-claude",
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    done = subprocess.run(
        [
            claude_binary(),
            "-p",
            "Add 20 and 22 with the add tool.",
            "--output-format",
            "json",
            "--mcp-config",
            str(config),
            "--strict-mcp-config",
            "--allowedTools",
            TOOL,
        ],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"claude failed:\n{done.stdout}\n{done.stderr}"
    result = json.loads(done.stdout)
    assert result.get("is_error") is False, result
    offered = [[t.get("name") for t in s.body.get("tools") or []] for s in mock.seen]
    mcp_lines = [line for line in stack.gw.log().splitlines() if "mcp" in line.lower()]
    assert "42" in result["result"], (result, offered[0], mcp_lines[-20:], done.stderr[-2000:])
    rows = stack.gw.shell(
        "from gateway.models import RequestLog\n"
        "import time\n"
        "for _ in range(50):\n"
        "    rows = list(RequestLog.objects.filter(dialect='mcp').values_list('route', 'upstream_model', 'status', 'key_name'))\n"
        "    if rows: break\n"
        "    time.sleep(0.1)\n"
        "print(rows)"
    )
    assert "('local', 'add', 200, 'claude-mcp')" in rows
    stack.assert_clean_log()
