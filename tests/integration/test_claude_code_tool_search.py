"""Claude Code with tool search on (``ENABLE_TOOL_SEARCH=true``: its MCP tools are
deferred, found with its own ``ToolSearch`` tool) through the gateway, offline.

What Claude Code sends (recorded from 2.1.197 with the flag; later releases defer by
default): ``ToolSearch`` is an ordinary client tool; its answer is a ``tool_result`` holding ``tool_reference`` blocks (the
tools found); from then on the found tool is in ``tools`` with ``defer_loading: true``.
On an Anthropic route that body passes intact (the API loads the tool from the
reference); on an OpenAI-format route the gateway must make the search work: the
reference becomes text naming the tool, the deferred tool a plain function with its
schema (``defer_loading`` noted as lost in translation), and the upstream's call of it
comes back as a ``tool_use`` Claude Code runs through the gateway's ``/mcp``.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import Stack
from .mock_upstream import MockUpstream, Reply, Seen, ToolUse
from .test_claude_code import CLI_TIMEOUT, claude_binary
from .test_claude_code_mcp import SCRIPT, wait_until_offered

pytestmark = pytest.mark.cli

TOOL = "mcp__switchyard__local__add"
SEARCH = "ToolSearch"


def _tool_names(seen: Seen) -> list[str]:
    """The tools offered, in either format (Anthropic ``name``, OpenAI ``function.name``)."""
    tools = seen.body.get("tools") or []
    return [str(t.get("name") or (t.get("function") or {}).get("name")) for t in tools]


def _result_of(seen: Seen, call_id: str) -> str | None:
    """The content of the tool result for ``call_id``, in either format, as JSON text."""
    for message in seen.body.get("messages", []):
        if message.get("role") == "tool" and message.get("tool_call_id") == call_id:
            return json.dumps(message.get("content"))
        content = message.get("content")
        for block in content if isinstance(content, list) else []:
            if isinstance(block, dict) and block.get("tool_use_id") == call_id:
                return json.dumps(block.get("content"))
    return None


def answer(seen: Seen) -> Reply:
    """The upstream model: search for the tool, call it once found, then say its result."""
    history = json.dumps(seen.body.get("messages", []))
    names = _tool_names(seen)
    added = _result_of(seen, "toolu_add")
    if added is not None:
        return Reply(text=f"The tool said {added}")
    if "toolu_search" in history and TOOL in names:
        return Reply(
            tool_calls=[ToolUse(id="toolu_add", name=TOOL, arguments='{"a": 20, "b": 22}')]
        )
    if "toolu_search" in history:
        return Reply(text="searched, but the tool was not offered")
    if SEARCH in names:
        query = json.dumps({"query": f"select:{TOOL}", "max_results": 5})
        return Reply(tool_calls=[ToolUse(id="toolu_search", name=SEARCH, arguments=query)])
    return Reply(text="no tool search offered")


def _run(stack: Stack, route: str, tmp_path: Path) -> dict[str, Any]:
    out = stack.gw.shell(
        "import sys, json\n"
        "from gateway.models import McpServer\n"
        "from gateway.access import keys\n"
        "if not McpServer.objects.filter(name='local').exists():\n"
        f"    McpServer.objects.create(name='local', transport='stdio', command=sys.executable, args=[{str(SCRIPT)!r}], from_operator=True)\n"
        "print(json.dumps(keys.create_key(name='claude-search', mcp_allowed=['local__add']).raw))"
    )
    key = json.loads(out.strip().splitlines()[-1])
    wait_until_offered(stack.url, key)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    config = tmp_path / "mcp.json"
    server = {"type": "http", "url": stack.url + "/mcp"}
    server["headers"] = {"Authorization": f"Bearer {key}"}  # type: ignore[assignment]
    config.write_text(json.dumps({"mcpServers": {"switchyard": server}}))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": stack.url,
        "ANTHROPIC_AUTH_TOKEN": stack.key,
        "ANTHROPIC_MODEL": route,
        "ANTHROPIC_SMALL_FAST_MODEL": route,
        "ENABLE_TOOL_SEARCH": "true",  # deferred tools, found by ToolSearch
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    command = [claude_binary(), "-p", "Add 20 and 22 with the add tool."]
    command += ["--output-format", "json", "--mcp-config", str(config), "--strict-mcp-config"]
    command += ["--allowedTools", TOOL]
    done = subprocess.run(
        command,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"claude failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout)
    assert result.get("is_error") is False, result
    return result


def _after_search(mock: MockUpstream) -> Seen:
    """The first request that carries the search's answer."""
    found = [s for s in mock.chat_requests() if "toolu_search" in json.dumps(s.body)]
    assert found, [_tool_names(s) for s in mock.seen]
    return next(s for s in found if any(_is_search_result(m) for m in s.body["messages"]))


def _is_search_result(message: dict[str, Any]) -> bool:
    if message.get("role") == "tool":  # OpenAI
        return message.get("tool_call_id") == "toolu_search"
    content = message.get("content")
    return isinstance(content, list) and any(
        isinstance(b, dict) and b.get("tool_use_id") == "toolu_search" for b in content
    )


@pytest.mark.timeout(CLI_TIMEOUT + 90)
@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
def test_claude_code_finds_deferred_mcp_tools_with_tool_search(
    stack: Stack, mock: MockUpstream, tmp_path: Path, route: str
) -> None:
    mock.default = answer
    result = _run(stack, route, tmp_path)
    assert "42" in result["result"], result
    seen = _after_search(mock)
    (found,) = [m for m in seen.body["messages"] if _is_search_result(m)]
    assert SEARCH in _tool_names(seen)
    if route == "mock-gpt":
        assert seen.path == "/v1/chat/completions"
        # the tool_reference arrives as text naming the tool found
        assert found["content"] == f"Tool {TOOL} is loaded and may be called."
        # the deferred tool is a plain function with its whole schema, no Anthropic key
        (tool,) = [t for t in seen.body["tools"] if t["function"]["name"] == TOOL]
        assert tool["type"] == "function" and "defer_loading" not in json.dumps(tool)
        assert tool["function"]["parameters"]["required"] == ["a", "b"]
    else:  # passthrough: the deferral and the reference reach Anthropic intact
        assert seen.path == "/v1/messages"
        (block,) = [b for b in found["content"] if b.get("tool_use_id") == "toolu_search"]
        assert block["content"] == [{"type": "tool_reference", "tool_name": TOOL}]
        (tool,) = [t for t in seen.body["tools"] if t["name"] == TOOL]
        assert tool["defer_loading"] is True
    # the upstream's call went back to Claude Code as a tool_use it ran through /mcp,
    # and its result came back to the upstream
    assert "42" in str(_result_of(mock.chat_requests()[-1], "toolu_add"))
    rows = stack.gw.shell(
        "from gateway.models import RequestLog\n"
        "import time\n"
        "for _ in range(50):\n"
        "    rows = list(RequestLog.objects.filter(dialect='mcp', key_name='claude-search').values_list('route', 'upstream_model', 'status'))\n"
        "    if rows: break\n"
        "    time.sleep(0.1)\n"
        "print(rows)"
    )
    assert "('local', 'add', 200)" in rows
    stack.assert_clean_log()
