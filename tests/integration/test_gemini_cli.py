"""Gemini CLI (the ``gemini`` command of ``@google/gemini-cli``) pointed at the gateway
with GOOGLE_GEMINI_BASE_URL and a Switchyard key as GEMINI_API_KEY, run headless
(``-p``, JSON output), answering through an OpenAI-compatible route and an Anthropic
route: a plain answer, and a tool loop in which the CLI really runs its ``read_file``
tool on the function call the upstream asked for and sends the result back. The CLI
picks its auth method from ``security.auth.selectedType`` in its settings file and
refuses untrusted folders unless GEMINI_CLI_TRUST_WORKSPACE is set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.live import MASTER_KEY

from .conftest import ANTHROPIC_SECRET, OPENAI_SECRET, Stack
from .mock_upstream import MockUpstream, Reply, Seen, ToolUse

pytestmark = pytest.mark.cli

ANSWER = "PONG from the gateway mock 3c9e"
CLI_TIMEOUT = 180
SECRETS = {
    "mock-gpt": ("/v1/chat/completions", "authorization", f"Bearer {OPENAI_SECRET}"),
    "mock-claude": ("/v1/messages", "x-api-key", ANTHROPIC_SECRET),
}


def gemini_binary() -> str:
    found = shutil.which("gemini")
    if found:
        return found
    if shutil.which("npm"):
        subprocess.run(
            ["npm", "install", "-g", "--silent", "@google/gemini-cli"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        found = shutil.which("gemini")
    if not found:
        pytest.skip("the Gemini CLI is not installed and `npm install -g` failed")
    return found


def run_gemini(stack: Stack, route: str, prompt: str, tmp_path: Path) -> dict:
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".gemini").mkdir(parents=True)
    work.mkdir(exist_ok=True)
    settings = {
        "security": {"auth": {"selectedType": "gemini-api-key"}},
        "privacy": {"usageStatisticsEnabled": False},
    }
    (home / ".gemini" / "settings.json").write_text(json.dumps(settings))
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GOOGLE_GEMINI_BASE_URL": stack.url,
        "GEMINI_API_KEY": stack.key,
        "GEMINI_CLI_TRUST_WORKSPACE": "true",
        "GEMINI_CLI_NO_RELAUNCH": "1",
    }
    done = subprocess.run(
        [gemini_binary(), "-m", route, "-p", prompt, "--output-format", "json", "--yolo"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"gemini failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def main_turns(mock: MockUpstream, marker: str) -> list[Seen]:
    return [s for s in mock.chat_requests() if marker in json.dumps(s.body)]


def assert_secrets(mock: MockUpstream, route: str) -> None:
    _path, name, value = SECRETS[route]
    for seen in mock.seen:
        assert seen.headers.get(name) == value
        assert MASTER_KEY not in json.dumps(seen.headers)


@pytest.mark.timeout(CLI_TIMEOUT + 60)
@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
def test_gemini_cli_answers_through_the_gateway(
    stack: Stack, mock: MockUpstream, tmp_path: Path, route: str
) -> None:
    mock.default = lambda seen: Reply(text=ANSWER, input_tokens=50, output_tokens=9)
    result = run_gemini(stack, route, "Reply with the single word PONG.", tmp_path)
    assert result["response"] == ANSWER, result
    assert "error" not in result
    turns = main_turns(mock, "Reply with the single word PONG")
    assert turns, [s.path for s in mock.seen]
    main = turns[-1]
    assert main.path == SECRETS[route][0]
    assert main.body["model"] == ("up-gpt" if route == "mock-gpt" else "up-claude")
    assert main.body["stream"] is True  # the CLI streams (streamGenerateContent?alt=sse)
    # the CLI's system instruction and its tools arrive in the upstream's own shapes
    if route == "mock-gpt":
        assert main.body["messages"][0]["role"] == "system"
        names = {t["function"]["name"] for t in main.body["tools"]}
    else:
        assert "Gemini CLI" in json.dumps(main.body["system"])
        names = {t["name"] for t in main.body["tools"]}
    assert {"read_file", "list_directory"} <= names
    stats = result["stats"]["models"][route]["tokens"]
    assert stats["prompt"] >= 50 and stats["candidates"] == 9
    assert_secrets(mock, route)


@pytest.mark.timeout(CLI_TIMEOUT + 60)
@pytest.mark.parametrize("route", ["mock-gpt", "mock-claude"])
def test_gemini_cli_runs_a_tool_and_sends_its_result_back(
    stack: Stack, mock: MockUpstream, tmp_path: Path, route: str
) -> None:
    note = tmp_path / "work" / "note.txt"
    note.parent.mkdir(parents=True)
    note.write_text("the secret word is BLUEBERRY-41\n")
    call_id = "call_read_note_1" if route == "mock-gpt" else "toolu_read_note_1"

    def script(seen: Seen) -> Reply:
        if "BLUEBERRY-41" in json.dumps(seen.body.get("messages", [])):
            return Reply(text="The note says BLUEBERRY-41.", input_tokens=80, output_tokens=8)
        if "What does note.txt say" not in json.dumps(seen.body):
            return Reply(text="side request", input_tokens=5, output_tokens=2)
        arguments = json.dumps({"file_path": str(note)})
        return Reply(tool_calls=[ToolUse(call_id, "read_file", arguments)], input_tokens=60)

    mock.default = script
    result = run_gemini(stack, route, "What does note.txt say? Use read_file.", tmp_path)
    assert result["response"] == "The note says BLUEBERRY-41.", result
    assert result["stats"]["tools"]["byName"]["read_file"]["success"] == 1
    answered = main_turns(mock, "BLUEBERRY-41")
    assert answered, [s.path for s in mock.seen]
    messages = answered[-1].body["messages"]
    if route == "mock-gpt":
        calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
        results = [m for m in messages if m["role"] == "tool"]
        assert [c["id"] for c in calls] == [call_id]
        assert [r["tool_call_id"] for r in results] == [call_id]
        assert "BLUEBERRY-41" in json.dumps(results)
    else:
        blocks = [b for m in messages if isinstance(m["content"], list) for b in m["content"]]
        uses = [b for b in blocks if b["type"] == "tool_use"]
        results = [b for b in blocks if b["type"] == "tool_result"]
        assert [u["id"] for u in uses] == [call_id]
        assert [r["tool_use_id"] for r in results] == [call_id]
        assert "BLUEBERRY-41" in json.dumps(results)
    assert_secrets(mock, route)
