"""Claude Code (the ``claude`` CLI) pointed at the gateway with ANTHROPIC_BASE_URL,
answering through an OpenAI-compatible route (the translated path) and an Anthropic
route (passthrough). The mock upstream answers every request Claude Code makes (the
main turn, title or topic side requests, token counts); we assert the CLI's JSON
result and what reached the upstream."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.live import MASTER_KEY

from .conftest import ANTHROPIC_SECRET, OPENAI_SECRET, Stack
from .mock_upstream import MockUpstream, Reply, Seen

pytestmark = pytest.mark.cli

ANSWER = "PONG from the gateway mock 7d1f"
CLI_TIMEOUT = 180


def claude_binary() -> str:
    chosen = os.environ.get("SWITCHYARD_CLAUDE_BIN")  # a version under test (scripts/compat.sh)
    if chosen:
        return chosen
    found = shutil.which("claude")
    if found:
        return found
    if shutil.which("npm"):
        subprocess.run(
            ["npm", "install", "-g", "--silent", "@anthropic-ai/claude-code"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        found = shutil.which("claude")
    if not found:
        pytest.skip("the Claude Code CLI is not installed and `npm install -g` failed")
    return found


def run_claude(
    stack: Stack,
    route: str,
    prompt: str,
    tmp_path: Path,
    *,
    key: str | None = None,
    timeout: float = CLI_TIMEOUT,
    check: bool = True,
) -> dict:
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": stack.url,
        "ANTHROPIC_AUTH_TOKEN": key or stack.key,
        "ANTHROPIC_MODEL": route,
        "ANTHROPIC_SMALL_FAST_MODEL": route,
        "DISABLE_TELEMETRY": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_ERROR_REPORTING": "1",
    }
    done = subprocess.run(
        [claude_binary(), "-p", prompt, "--output-format", "json"],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0 or not check, f"claude failed:\n{done.stdout}\n{done.stderr}"
    return json.loads(done.stdout)


def answer_everything(seen: Seen) -> Reply:
    return Reply(text=ANSWER, input_tokens=50, output_tokens=9)


def main_turns(mock: MockUpstream, prompt: str) -> list[Seen]:
    return [s for s in mock.chat_requests() if prompt in json.dumps(s.body)]


@pytest.mark.timeout(CLI_TIMEOUT + 60)
@pytest.mark.parametrize(
    "route, upstream_path, secret_header",
    [
        ("mock-gpt", "/v1/chat/completions", ("authorization", f"Bearer {OPENAI_SECRET}")),
        ("mock-claude", "/v1/messages", ("x-api-key", ANTHROPIC_SECRET)),
    ],
)
def test_claude_code_answers_through_the_gateway(
    stack: Stack,
    mock: MockUpstream,
    tmp_path: Path,
    route: str,
    upstream_path: str,
    secret_header: tuple[str, str],
) -> None:
    mock.default = answer_everything
    prompt = "Reply with the single word PONG. Do not use any tools."
    result = run_claude(stack, route, prompt, tmp_path)
    assert result.get("is_error") is False, result
    assert result["result"] == ANSWER
    turns = main_turns(mock, "Reply with the single word PONG")
    assert turns, [s.path for s in mock.seen]
    main = turns[-1]
    assert main.path == upstream_path
    assert main.body["model"] == ("up-gpt" if route == "mock-gpt" else "up-claude")
    assert main.body["stream"] is True
    asked = [m for m in main.body["messages"] if m["role"] == "user"]
    assert "Reply with the single word PONG" in json.dumps(asked)
    name, value = secret_header
    for seen in mock.seen:
        assert seen.headers.get(name) == value
        assert MASTER_KEY not in json.dumps(seen.headers)
    if route == "mock-gpt":
        # Claude Code's system prompt and its tools arrive as OpenAI system + functions
        assert main.body["messages"][0]["role"] == "system"
        assert all(t["type"] == "function" for t in main.body.get("tools", []))
    else:
        # passthrough: Claude Code's own Anthropic body, model rewritten
        assert isinstance(main.body["system"], list)
    stack.assert_clean_log()


@pytest.mark.timeout(90)
def test_a_wrong_key_fails_fast_instead_of_retrying(
    stack: Stack, mock: MockUpstream, tmp_path: Path
) -> None:
    """The 401 says ``x-should-retry: false``; without it Claude Code retried the wrong
    key with backoff for minutes (the run would hit this test's timeout)."""
    started = time.monotonic()
    result = run_claude(
        stack, "mock-claude", "hi", tmp_path, key="sy-wrong-key", timeout=60, check=False
    )
    assert result.get("is_error") is True and result.get("api_error_status") == 401, result
    assert "401" in result["result"]
    assert time.monotonic() - started < 30
    assert mock.chat_requests() == []
