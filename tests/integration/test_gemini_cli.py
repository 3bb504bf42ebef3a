"""Gemini CLI (the ``gemini`` command of ``@google/gemini-cli``) pointed at the gateway
with GOOGLE_GEMINI_BASE_URL and a Switchyard key as GEMINI_API_KEY, run headless
(``-p``, JSON output), answering through an OpenAI-compatible route and an Anthropic
route: a plain answer, and a tool loop in which the CLI really runs its ``read_file``
tool on the function call the upstream asked for and sends the result back; and the
same loop on a native Gemini 3 upstream, which refuses history without its thought
signatures. The CLI
picks its auth method from ``security.auth.selectedType`` in its settings file and
refuses untrusted folders unless GEMINI_CLI_TRUST_WORKSPACE is set."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.live import MASTER_KEY, running_gateway

from .conftest import ANTHROPIC_SECRET, OPENAI_SECRET, Stack
from .mock_gemini import GReply, MockGemini
from .mock_upstream import MockUpstream, Reply, Seen, ToolUse

pytestmark = pytest.mark.cli

ANSWER = "PONG from the gateway mock 3c9e"
CLI_TIMEOUT = 180
SECRETS = {
    "mock-gpt": ("/v1/chat/completions", "authorization", f"Bearer {OPENAI_SECRET}"),
    "mock-claude": ("/v1/messages", "x-api-key", ANTHROPIC_SECRET),
}


def gemini_binary() -> str:
    chosen = os.environ.get("SWITCHYARD_GEMINI_BIN")  # a version under test (scripts/compat.sh)
    if chosen:
        return chosen
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


def run_gemini(url: str, route: str, prompt: str, tmp_path: Path) -> dict:
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
        "GOOGLE_GEMINI_BASE_URL": url,
        "GEMINI_API_KEY": MASTER_KEY,
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
    result = run_gemini(stack.url, route, "Reply with the single word PONG.", tmp_path)
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
    result = run_gemini(stack.url, route, "What does note.txt say? Use read_file.", tmp_path)
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


# --- a native Gemini upstream: the CLI's thought signatures go back to Gemini --------------

GEMINI_KEY = "AIza-mock-gemini-key-for-the-cli"


class ScriptedReplies:
    """Stands in for ``MockGemini.replies``: answers each request from its body (the
    CLI's side requests and main turns arrive in an order the test does not fix)."""

    def __init__(self, mock: MockGemini, script: Callable[[dict], GReply]) -> None:
        self.mock, self.script = mock, script

    def __bool__(self) -> bool:
        return True

    def popleft(self) -> GReply:
        return self.script(self.mock.seen[-1].body)

    def clear(self) -> None:
        pass


@pytest.fixture(scope="module")
def gemini_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, MockGemini]]:
    mock = MockGemini(api_key=GEMINI_KEY).start()
    setup = f"""
from gateway.models import Deployment, Provider, Route
p = Provider(name="mock-gemini", kind="gemini", base_url="{mock.url}")
p.set_secret("{GEMINI_KEY}")
p.save()
r = Route.objects.create(name="gem3-cli", max_attempts=1)
Deployment.objects.create(route=r, provider=p, model="gemini-3-pro-preview",
                          max_output_tokens=8192, context_window=1000000)
"""
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gemini-cli"), setup=[["shell", "-c", setup]], seed=False
        ) as gw:
            yield gw.url, mock
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
            assert GEMINI_KEY not in gw.log()
    finally:
        mock.stop()


@pytest.mark.timeout(CLI_TIMEOUT + 60)
def test_gemini_cli_tool_loop_on_gemini_keeps_thought_signatures(
    gemini_stack: tuple[str, MockGemini], tmp_path: Path
) -> None:
    """The Gemini 3 mock signs the call and answers 400 to history that drops or
    alters the signature: the loop only completes if the CLI's echo reaches it intact."""
    url, gemini = gemini_stack
    note = tmp_path / "work" / "note.txt"
    note.parent.mkdir(parents=True)
    note.write_text("the secret word is BLUEBERRY-41\n")

    def script(body: dict) -> GReply:
        sent = json.dumps(body.get("contents", []))
        if "BLUEBERRY-41" in sent:
            return GReply(text="The note says BLUEBERRY-41.")
        if "What does note.txt say" not in sent:
            return GReply(text="side request")
        return GReply(calls=[("read_file", {"file_path": str(note)})])

    gemini.reset()
    gemini.replies = ScriptedReplies(gemini, script)  # type: ignore[assignment]
    result = run_gemini(url, "gem3-cli", "What does note.txt say? Use read_file.", tmp_path)
    assert result["response"] == "The note says BLUEBERRY-41.", result
    final = [s for s in gemini.chats if "BLUEBERRY-41" in json.dumps(s.body.get("contents"))]
    assert final, [s.path for s in gemini.seen]
    contents = final[-1].body["contents"]
    calls = [p for turn in contents for p in turn["parts"] if "functionCall" in p]
    assert [c["functionCall"]["name"] for c in calls] == ["read_file"]
    assert calls[0]["thoughtSignature"] in gemini.signatures  # the one Gemini issued
    responses = [p for turn in contents for p in turn["parts"] if "functionResponse" in p]
    assert [r["functionResponse"]["name"] for r in responses] == ["read_file"]
    assert all(s.headers["x-goog-api-key"] == GEMINI_KEY for s in gemini.seen)
