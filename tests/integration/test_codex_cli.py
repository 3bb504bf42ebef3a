"""Codex CLI (the ``codex`` command of ``@openai/codex``) run headless (``codex exec``)
against a live gateway through a custom ``model_providers.switchyard`` in a temporary
CODEX_HOME (the config README.md documents), answering through an OpenAI-compatible
route and an Anthropic route, over both Responses transports Codex has: plain HTTP
(the default for a custom provider) and its WebSocket mode (``supports_websockets``).

Covered: a plain answer; a multi-turn tool loop in which Codex really runs its
``exec_command`` shell tool on the call the upstream asked for and sends the output
back in the next request (over the WebSocket chained by ``previous_response_id``, with
only the tool output, so the history comes from the gateway's socket state); and
``codex exec resume --last`` continuing the saved conversation in a new process. Codex's own debug log names the transport it used, so each
case asserts it really went over HTTP or the WebSocket. Plugin sync, apps and update
checks are switched off so the CLI calls nothing but the gateway."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live import MASTER_KEY, free_port, running_gateway

from .conftest import ANTHROPIC_SECRET, OPENAI_SECRET, Stack, setup_code
from .mock_upstream import MockUpstream, Reply, Seen, ToolUse

pytestmark = pytest.mark.cli

ANSWER = "PONG from the gateway mock 7d1a"
THOUGHT = "The user wants the note; cat it."
CLI_TIMEOUT = 180
SECRETS = {
    "mock-gpt": ("/v1/chat/completions", "authorization", f"Bearer {OPENAI_SECRET}"),
    "mock-claude": ("/v1/messages", "x-api-key", ANTHROPIC_SECRET),
}
# how Codex names each transport in its tracing spans
TRANSPORT_SPANS = {
    "http": 'transport="responses_http"',
    "websocket": 'transport="responses_websocket"',
}


def codex_binary() -> str:
    chosen = os.environ.get("SWITCHYARD_CODEX_BIN")  # a version under test (scripts/compat.sh)
    if chosen:
        return chosen
    found = shutil.which("codex")
    if found:
        return found
    if shutil.which("npm"):
        subprocess.run(
            ["npm", "install", "-g", "--silent", "@openai/codex"],
            capture_output=True,
            timeout=300,
            check=False,
        )
        found = shutil.which("codex")
    if not found:
        pytest.skip("the Codex CLI is not installed and `npm install -g` failed")
    return found


def codex_config(url: str, route: str, websocket: bool) -> str:
    """The README's set-up, plus switches that keep the CLI off the internet."""
    socket = "supports_websockets = true\n" if websocket else ""
    return f"""model = "{route}"
model_provider = "switchyard"
check_for_update_on_startup = false

[model_providers.switchyard]
name = "Switchyard"
base_url = "{url}/v1"
env_key = "SWITCHYARD_API_KEY"
wire_api = "responses"
{socket}
[analytics]
enabled = false

[features]
plugins = false
remote_plugin = false
apps = false
in_app_updates = false
"""


@dataclass
class CodexRun:
    answer: str  # the last agent message (--output-last-message)
    stdout: str
    log: str  # stderr: Codex's tracing at RUST_LOG=info


def run_codex(
    url: str, route: str, prompt: str, tmp_path: Path, transport: str, resume: bool = False
) -> CodexRun:
    """``codex exec`` (or, with ``resume``, ``codex exec resume --last``: the session the
    previous run in this ``tmp_path`` saved) in ``tmp_path/work``."""
    home, work = tmp_path / "codex-home", tmp_path / "work"
    home.mkdir(parents=True, exist_ok=True)
    work.mkdir(exist_ok=True)
    (home / "config.toml").write_text(codex_config(url, route, transport == "websocket"))
    last = tmp_path / "last-message.txt"
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "CODEX_HOME": str(home),
        "SWITCHYARD_API_KEY": MASTER_KEY,
        # tungstenite's trace shows each WebSocket frame Codex sends
        "RUST_LOG": "info,tungstenite::protocol=trace" if transport == "websocket" else "info",
        "NO_COLOR": "1",
    }
    command = [
        codex_binary(),
        "exec",
        *(["resume", "--last"] if resume else []),
        "--skip-git-repo-check",
        "--dangerously-bypass-approvals-and-sandbox",  # CI runs as root, no sandbox
        "--strict-config",  # every key in the config is one this version reads
        "--output-last-message",
        str(last),
        prompt,
    ]
    done = subprocess.run(
        command,
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, f"codex failed:\n{done.stdout}\n{done.stderr[-6000:]}"
    assert TRANSPORT_SPANS[transport] in done.stderr, done.stderr[-6000:]
    other = next(span for name, span in TRANSPORT_SPANS.items() if name != transport)
    assert other not in done.stderr, f"Codex fell back from {transport}:\n{done.stderr[-6000:]}"
    return CodexRun(answer=last.read_text().strip(), stdout=done.stdout, log=done.stderr)


def last_body_id(stack: Stack) -> int:
    """The newest journaled body's log id (0: none yet)."""
    import sqlite3

    db = sqlite3.connect(stack.gw.data_dir / "switchyard.sqlite3")
    try:
        return db.execute("SELECT COALESCE(MAX(log_id), 0) FROM gateway_requestbody").fetchone()[0]
    finally:
        db.close()


def journaled_follow_up(stack: Stack, after: int) -> dict:
    """The inbound body of the journaled socket turn that carried the tool output, among
    the rows written after log id ``after`` (earlier tests on the same server wrote tool
    outputs too, and this run's row may still be on its way to the database)."""
    import sqlite3
    import time

    from gateway.base import body_parts
    from gateway.models import body_blobs

    deadline = time.monotonic() + 10
    while True:
        db = sqlite3.connect(stack.gw.data_dir / "switchyard.sqlite3")
        try:
            # bodies are stored as an envelope and parts written once (gateway.base.
            # body_parts): rebuilt from the parts before they are searched
            stored = db.execute(
                "SELECT inbound_request, parts FROM gateway_requestbody "
                "WHERE log_id > ? ORDER BY log_id DESC",
                (after,),
            ).fetchall()
            nodes = {
                key: (parent, data)
                for key, parent, data in db.execute(
                    "SELECT hash, parent, data FROM gateway_bodyblob"
                ).fetchall()
            }
        finally:
            db.close()
        rows = []
        for envelope, parts in stored:
            refs = body_blobs.refs_of(parts).get("inbound_request")
            text = body_parts.join(envelope, refs, nodes) if refs else envelope
            if text and "function_call_output" in text:
                rows.append((text,))
        # the turn that opens with the tool's output (Codex's first request of the
        # session may name function_call_output too, and can be journaled first)
        turns = [json.loads(row[0]) for row in rows]
        turns = [
            t for t in turns if (t.get("input") or [{}])[0].get("type") == "function_call_output"
        ]
        if turns or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert turns, "no journaled follow-up turn"
    return turns[0]


def main_turns(mock: MockUpstream, marker: str) -> list[Seen]:
    return [s for s in mock.chat_requests() if marker in json.dumps(s.body)]


def assert_secrets(mock: MockUpstream, route: str) -> None:
    _path, name, value = SECRETS[route]
    assert mock.seen
    for seen in mock.seen:
        assert seen.headers.get(name) == value
        assert MASTER_KEY not in json.dumps(seen.headers)


def tool_names(route: str, body: dict) -> set[str]:
    if route == "mock-gpt":
        return {t["function"]["name"] for t in body["tools"] if t["type"] == "function"}
    return {t["name"] for t in body["tools"]}


TRANSPORTS = ["http", "websocket"]
ROUTES = ["mock-gpt", "mock-claude"]


@pytest.mark.timeout(CLI_TIMEOUT + 60)
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ROUTES)
def test_codex_answers_through_the_gateway(
    stack: Stack, mock: MockUpstream, tmp_path: Path, route: str, transport: str
) -> None:
    mock.default = lambda seen: Reply(text=ANSWER, input_tokens=50, output_tokens=9)
    run = run_codex(stack.url, route, "Reply with the single word PONG.", tmp_path, transport)
    assert run.answer == ANSWER, run.log[-4000:]
    turns = main_turns(mock, "Reply with the single word PONG")
    assert len(turns) == 1, [s.path for s in mock.seen]
    main = turns[0]
    assert main.path == SECRETS[route][0]
    assert main.body["model"] == ("up-gpt" if route == "mock-gpt" else "up-claude")
    assert main.body["stream"] is True
    # Codex's instructions and its shell tool arrive in the upstream's own shapes
    if route == "mock-gpt":
        assert main.body["messages"][0]["role"] in ("system", "developer")
        assert "Codex" in json.dumps(main.body["messages"][0])
    else:
        assert "Codex" in json.dumps(main.body["system"])
    assert "exec_command" in tool_names(route, main.body)
    assert_secrets(mock, route)
    stack.assert_clean_log()


@pytest.mark.timeout(CLI_TIMEOUT + 60)
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ROUTES)
def test_codex_runs_a_shell_command_and_sends_its_output_back(
    stack: Stack, mock: MockUpstream, tmp_path: Path, route: str, transport: str
) -> None:
    run_tool_loop(stack, mock, tmp_path, route, transport)


def run_tool_loop(
    stack: Stack,
    mock: MockUpstream,
    tmp_path: Path,
    route: str,
    transport: str,
    read_frames: bool = True,
) -> None:
    """Codex cats note.txt on the upstream's call and answers from its output;
    ``read_frames``: also check what Codex sent on the WebSocket for the follow-up (as
    the journal recorded it)."""
    journaled_before = last_body_id(stack)
    note = tmp_path / "work" / "note.txt"
    note.parent.mkdir(parents=True)
    note.write_text("the secret word is BLUEBERRY-41\n")
    call_id = "call_cat_note_1" if route == "mock-gpt" else "toolu_cat_note_1"
    final = "The note says BLUEBERRY-41."

    def script(seen: Seen) -> Reply:
        if "BLUEBERRY-41" in json.dumps(seen.body.get("messages", [])):
            return Reply(text=final, input_tokens=80, output_tokens=8)
        if "What does note.txt say" not in json.dumps(seen.body):
            return Reply(text="side request", input_tokens=5, output_tokens=2)
        arguments = json.dumps({"cmd": "cat note.txt", "workdir": str(note.parent)})
        call = ToolUse(call_id, "exec_command", arguments)
        return Reply(reasoning=THOUGHT, tool_calls=[call], input_tokens=60)

    mock.default = script
    run = run_codex(stack.url, route, "What does note.txt say? Run cat.", tmp_path, transport)
    assert run.answer == final, run.log[-4000:]
    asked = main_turns(mock, "What does note.txt say")
    assert len(asked) == 2, [s.path for s in mock.seen]
    first, answered = asked
    assert "BLUEBERRY-41" not in json.dumps(first.body)
    messages = answered.body["messages"]
    if route == "mock-gpt":
        calls = [c for m in messages if m["role"] == "assistant" for c in m.get("tool_calls") or []]
        results = [m for m in messages if m["role"] == "tool"]
        assert [c["id"] for c in calls] == [call_id]
        assert [c["function"]["name"] for c in calls] == ["exec_command"]
        assert json.loads(calls[0]["function"]["arguments"])["cmd"] == "cat note.txt"
        assert [r["tool_call_id"] for r in results] == [call_id]
    else:
        blocks = [b for m in messages if isinstance(m["content"], list) for b in m["content"]]
        uses = [b for b in blocks if b["type"] == "tool_use"]
        results = [b for b in blocks if b["type"] == "tool_result"]
        assert [u["id"] for u in uses] == [call_id]
        assert [u["name"] for u in uses] == ["exec_command"]
        assert uses[0]["input"]["cmd"] == "cat note.txt"
        assert [r["tool_use_id"] for r in results] == [call_id]
        # the thinking came back to Codex as a reasoning item and returns, signed, in
        # front of its tool_use, as Anthropic requires for a tool loop with thinking
        turn = [m for m in messages if m["role"] == "assistant"][-1]["content"]
        assert [b["type"] for b in turn] == ["thinking", "tool_use"]
        assert turn[0]["thinking"] == THOUGHT
        assert turn[0]["signature"] == "sig-mock-thinking"
    # the command's real output (the file's content) went back to the upstream
    assert "the secret word is BLUEBERRY-41" in json.dumps(results)
    if transport == "websocket" and read_frames:
        # Codex chains the follow-up with previous_response_id (store=false) and sends
        # only the tool output: the history above came from the gateway's socket state.
        # Read from the journal's inbound bodies: the uvicorn worker negotiates
        # permessage-deflate, so the frames in Codex's log are compressed.
        follow_up = journaled_follow_up(stack, journaled_before)
        assert follow_up["previous_response_id"].startswith("resp_"), follow_up
        assert [item["type"] for item in follow_up["input"]] == ["function_call_output"]
        assert "What does note.txt say" not in json.dumps(follow_up)
    assert_secrets(mock, route)
    stack.assert_clean_log()


@pytest.mark.timeout(2 * CLI_TIMEOUT + 60)
@pytest.mark.parametrize("transport", TRANSPORTS)
@pytest.mark.parametrize("route", ROUTES)
def test_codex_resumes_a_session_in_a_new_process(
    stack: Stack, mock: MockUpstream, tmp_path: Path, route: str, transport: str
) -> None:
    """A second ``codex exec resume --last`` continues the saved conversation: the
    upstream's second request carries the first turn's question and answer."""
    mock.default = lambda seen: Reply(text="The capital is Paris.", output_tokens=5)
    first = run_codex(stack.url, route, "What is the capital of France? 4e21", tmp_path, transport)
    assert first.answer == "The capital is Paris."
    mock.default = lambda seen: Reply(text="About 2.1 million people.", output_tokens=6)
    again = run_codex(
        stack.url, route, "And its population? 9b07", tmp_path, transport, resume=True
    )
    assert again.answer == "About 2.1 million people.", again.log[-4000:]
    second = main_turns(mock, "And its population? 9b07")
    assert len(second) == 1, [s.path for s in mock.seen]
    history = json.dumps(second[0].body)
    assert "What is the capital of France? 4e21" in history
    assert "The capital is Paris." in history
    assert history.index("capital of France") < history.index("And its population")
    assert_secrets(mock, route)
    stack.assert_clean_log()


@pytest.fixture(scope="module")
def two_worker_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The quick start's ``serve --workers 2`` (uvicorn), routed like ``stack``."""
    upstream = MockUpstream().start()
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway-2w"),
            setup=[["shell", "-c", setup_code(upstream.url, dead)]],
            workers=2,
        ) as gw:
            yield Stack(gw=gw, mock=upstream)
    finally:
        upstream.stop()


@pytest.mark.timeout(CLI_TIMEOUT + 60)
@pytest.mark.parametrize("transport", TRANSPORTS)
def test_codex_tool_loop_on_two_workers(
    two_worker_stack: Stack, tmp_path: Path, transport: str
) -> None:
    """The WebSocket's chained turns stay on its one connection, so the socket state
    holds whichever worker accepted it; HTTP turns carry their whole history. uvicorn
    compresses the socket (permessage-deflate, which Codex accepts), so its frames are
    not read from Codex's log here."""
    mock = two_worker_stack.mock
    mock.reset()
    run_tool_loop(two_worker_stack, mock, tmp_path, "mock-claude", transport, read_frames=False)
