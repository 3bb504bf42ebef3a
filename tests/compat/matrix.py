"""The compatibility matrix: client x version x upstream x feature, pass / fail / n.a.

    python -m tests.compat.matrix [--manifest FILE] [--clients a,b] [--out docs/compat.md]

Two kinds of client are run:

- SDK flows (``tests/compat/flows``): the Python SDKs through ``python_sdks.py`` with the
  interpreter that holds the version under test, the Vercel AI SDK through
  ``vercel_ai.mjs`` with the npm prefix that holds it; each against one gateway with a
  route per upstream kind (``tests.compat.stack``);
- CLIs (Claude Code, Codex, Gemini CLI): their own test modules in
  ``tests/integration`` run by pytest once per version, the binary chosen by
  ``SWITCHYARD_<NAME>_BIN``; each test's outcome is a cell (``CLI_TESTS`` maps a test to
  its feature, its parameters to the upstream).

Without ``--manifest`` the pinned set runs: the SDKs of the project's venv and the CLIs on
PATH (what ``scripts/test.sh`` installs). ``scripts/compat.sh --newest`` installs the newest
releases (and the two before of each CLI) into an isolated prefix and writes the
manifest: ``{"python": PATH, "node_path": DIR, "clis": {"claude": [{"version", "bin"}]}}``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FLOWS = Path(__file__).resolve().parent / "flows"
FEATURES = ("plain", "stream", "tools", "thinking", "image", "mcp", "resume", "websocket")
PYTHON_CLIENTS = (
    "openai-chat",
    "openai-responses",
    "anthropic",
    "google-genai",
    "openai-agents",
    "langchain-openai",
    "langchain-anthropic",
)
NODE_CLIENTS = ("vercel-ai-openai", "vercel-ai-anthropic")
CLIS = ("claude", "codex", "gemini")
UPSTREAMS = ("openai", "anthropic", "responses", "gemini")
FLOW_TIMEOUT = 300

# CLI test module -> its tests: (test function, feature); the upstream is read from the
# test's parameters (mock-gpt: openai, mock-claude: anthropic) or its name (on_gemini).
CLI_TESTS: dict[str, tuple[list[str], list[tuple[str, str]]]] = {
    "claude": (
        [
            "tests/integration/test_claude_code.py",
            "tests/integration/test_claude_code_mcp.py",
            "tests/integration/test_claude_code_tool_search.py",
        ],
        [
            ("test_claude_code_answers_through_the_gateway", "stream"),
            ("test_claude_code_calls_a_tool_through_the_gateway_mcp_endpoint", "mcp"),
            ("test_claude_code_finds_deferred_mcp_tools_with_tool_search", "mcp"),
        ],
    ),
    "codex": (
        ["tests/integration/test_codex_cli.py"],
        [
            ("test_codex_answers_through_the_gateway", "stream"),
            ("test_codex_runs_a_shell_command_and_sends_its_output_back", "tools"),
            ("test_codex_resumes_a_session_in_a_new_process", "resume"),
        ],
    ),
    "gemini": (
        ["tests/integration/test_gemini_cli.py"],
        [
            ("test_gemini_cli_answers_through_the_gateway", "stream"),
            ("test_gemini_cli_runs_a_tool_and_sends_its_result_back", "tools"),
            ("test_gemini_cli_tool_loop_on_gemini_keeps_thought_signatures", "tools"),
        ],
    ),
}
CLI_LABELS = {"claude": "Claude Code", "codex": "Codex CLI", "gemini": "Gemini CLI"}
CLI_ENV = {
    "claude": "SWITCHYARD_CLAUDE_BIN",
    "codex": "SWITCHYARD_CODEX_BIN",
    "gemini": "SWITCHYARD_GEMINI_BIN",
}
# the Claude Code MCP test routes to the Anthropic mock
CLI_DEFAULT_UPSTREAM = {"claude": "anthropic"}


@dataclass
class Row:
    """One client version on one upstream: a result per feature."""

    client: str
    version: str
    upstream: str
    cells: dict[str, str] = field(default_factory=dict)
    note: str = ""


# --- SDK flows ---------------------------------------------------------------------------


def run_flows(
    command: list[str], count: int, env: dict[str, str] | None = None
) -> list[dict[str, str]]:
    """A flow script's JSON lines, one for each of the ``count`` routes it was given, in
    order; a crash or a timeout is every feature of every route failing with its reason."""
    timeout = FLOW_TIMEOUT * count
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT
        )
    except subprocess.TimeoutExpired:
        return [{"error": f"timed out after {timeout}s"} for _ in range(count)]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(lines) != count:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return [{"error": tail[0][:400]} for _ in range(count)]
    return [json.loads(line) for line in lines]


def installed(python: str, module: str) -> bool:
    probe = f"import importlib.util,sys; sys.exit(0 if importlib.util.find_spec({module!r}) else 1)"
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


PYTHON_MODULES = {
    "openai-chat": "openai",
    "openai-responses": "openai",
    "anthropic": "anthropic",
    "google-genai": "google.genai",
    "openai-agents": "agents",
    "langchain-openai": "langchain_openai",
    "langchain-anthropic": "langchain_anthropic",
}


def sdk_rows(stack, python: str, node_path: str | None, clients: Iterable[str]) -> list[Row]:  # type: ignore[no-untyped-def]
    rows: list[Row] = []
    for client in clients:
        # (upstreams, the command that runs their flows): a Python SDK's flows run in one
        # process for every upstream (its import, 0.7-1.8 s of CPU, made once), the
        # Vercel AI SDK's once per upstream
        runs: list[tuple[tuple[str, ...], list[str]]]
        if client in PYTHON_CLIENTS:
            if not installed(python, PYTHON_MODULES[client]):
                print(f"  {client}: not installed for {python}, skipped", flush=True)
                continue
            routes = [stack.route(upstream) for upstream in UPSTREAMS]
            script = str(FLOWS / "python_sdks.py")
            runs = [(UPSTREAMS, [python, script, client, stack.url, stack.key, *routes])]
            env = None
        elif client in NODE_CLIENTS:
            if not node_path or not shutil.which("node"):
                print(f"  {client}: no npm prefix given, skipped", flush=True)
                continue
            provider = client.rsplit("-", 1)[-1]
            script = str(FLOWS / "vercel_ai.mjs")
            runs = [
                (
                    (upstream,),
                    ["node", script, provider, stack.url, stack.key, stack.route(upstream)],
                )
                for upstream in UPSTREAMS
            ]
            env = {**os.environ, "NODE_PATH": node_path}
        else:
            continue
        for upstreams, command in runs:
            started = time.monotonic()
            results = run_flows(command, len(upstreams), env)
            took = time.monotonic() - started
            for upstream, result in zip(upstreams, results, strict=True):
                version = result.pop("version", "?")
                row = Row(client, version, upstream)
                if "error" in result:
                    row.note = result.pop("error")
                    row.cells = {
                        f: "fail" for f in ("plain", "stream", "tools", "thinking", "image")
                    }
                for feature, outcome in result.items():
                    row.cells[feature] = outcome
                rows.append(row)
                print(f"  {client} {version} on {upstream}: {summary(row)}", flush=True)
            print(f"  ({took:.1f}s)", flush=True)
    return rows


def summary(row: Row) -> str:
    return " ".join(f"{f}={v.split(':')[0]}" for f, v in row.cells.items())


# --- CLIs: their own test modules, per version -------------------------------------------


def cli_version(binary: str) -> str:
    try:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    found = re.search(r"\d+\.\d+\.\d+(?:-[\w.]+)?", out.stdout + out.stderr)
    return found.group(0) if found else "?"


def cli_rows(cli: str, version: str, binary: str) -> list[Row]:
    """Run the CLI's test modules with ``binary``; a Row per upstream it reached."""
    modules, tests = CLI_TESTS[cli]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "junit.xml"
        env = {**os.environ, CLI_ENV[cli]: binary}
        command = [
            sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
            "-o", "addopts=", f"--junitxml={report}", *modules,
            "-k", " or ".join(name for name, _ in tests),
        ]  # fmt: skip
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        if not report.exists():
            return [Row(cli, version, "openai", note="the test run did not start")]
        cases = ET.parse(report).getroot().iter("testcase")
        rows: dict[str, Row] = {}
        for case in cases:
            name = case.get("name", "")
            function, _, params = name.partition("[")
            feature = next((f for t, f in tests if t == function), None)
            if feature is None:
                continue
            if "mock-gpt" in params:
                upstream = "openai"
            elif "mock-claude" in params:
                upstream = "anthropic"
            elif "on_gemini" in function:
                upstream = "gemini"
            else:
                upstream = CLI_DEFAULT_UPSTREAM.get(cli, "openai")
            if "websocket" in params:
                feature = "websocket"
            outcome = "pass"
            failed = (
                case.find("failure") if case.find("failure") is not None else case.find("error")
            )
            if failed is not None:
                outcome = "fail: " + (failed.get("message") or "")[:300].replace("\n", " ")
            elif case.find("skipped") is not None:
                outcome = "n.a."
            row = rows.setdefault(upstream, Row(cli, version, upstream))
            before = row.cells.get(feature, "pass")
            row.cells[feature] = outcome if before == "pass" else before
        return list(rows.values())


# --- the document ------------------------------------------------------------------------

LABELS = {
    "openai-chat": "openai (Chat Completions)",
    "openai-responses": "openai (Responses)",
    "anthropic": "anthropic",
    "google-genai": "google-genai",
    "openai-agents": "openai-agents",
    "langchain-openai": "langchain-openai",
    "langchain-anthropic": "langchain-anthropic",
    "vercel-ai-openai": "Vercel AI SDK, @ai-sdk/openai",
    "vercel-ai-anthropic": "Vercel AI SDK, @ai-sdk/anthropic",
    **CLI_LABELS,
}
MARKS = {"pass": "pass", "n.a.": "n.a."}


def cell(value: str | None) -> str:
    if value is None:
        return "·"
    return MARKS.get(value, "**FAIL**")


def render(rows: list[Row], title: str, command: str, took: float) -> str:
    used = [f for f in FEATURES if any(f in r.cells for r in rows)]
    head = "| client | version | upstream | " + " | ".join(used) + " |"
    rule = "|" + "---|" * (3 + len(used))
    lines = [head, rule]
    fails: list[str] = []
    for r in rows:
        cells = " | ".join(cell(r.cells.get(f)) for f in used)
        lines.append(f"| {LABELS.get(r.client, r.client)} | {r.version} | {r.upstream} | {cells} |")
        for f in used:
            value = r.cells.get(f, "")
            if value.startswith("fail"):
                fails.append(f"- {LABELS.get(r.client, r.client)} {r.version} on {r.upstream}, "
                             f"{f}: {value[5:].strip() or r.note}")  # fmt: skip
    passed = sum(v == "pass" for r in rows for v in r.cells.values())
    failed = sum(v.startswith("fail") for r in rows for v in r.cells.values())
    out = [
        f"### {title}",
        "",
        f"`{command}`, {datetime.date.today().isoformat()}: {passed} passed, {failed} failed "
        f"({took / 60:.1f} minutes).",
        "",
        *lines,
        "",
    ]
    if fails:
        out += ["Failures:", "", *fails, ""]
    return "\n".join(out)


def write(out: Path, section: str, marker: str) -> None:
    """Replace the section between ``<!-- marker -->`` lines of ``out`` (keeping the rest)."""
    start, end = f"<!-- {marker} -->", f"<!-- /{marker} -->"
    text = out.read_text() if out.exists() else ""
    block = f"{start}\n{section}\n{end}"
    if start in text and end in text:
        before, rest = text.split(start, 1)
        text = before + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    out.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--manifest", type=Path, help="what scripts/compat.sh installed")
    parser.add_argument("--clients", default="", help="comma-separated (default: all)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "compat.md")
    parser.add_argument("--command", default="scripts/compat.sh", help="named in the document")
    args = parser.parse_args(argv)
    manifest = json.loads(args.manifest.read_text()) if args.manifest else {}
    every = (*PYTHON_CLIENTS, *NODE_CLIENTS, *CLIS)
    chosen = [c.strip() for c in args.clients.split(",") if c.strip()] or list(every)
    aliases = {"vercel": NODE_CLIENTS, "langchain": ("langchain-openai", "langchain-anthropic"),
               "openai": ("openai-chat", "openai-responses")}  # fmt: skip
    chosen = [name for c in chosen for name in aliases.get(c, (c,))]
    python = manifest.get("python") or sys.executable
    node_path = manifest.get("node_path")
    started = time.monotonic()
    rows: list[Row] = []
    sdks = [c for c in chosen if c in PYTHON_CLIENTS or c in NODE_CLIENTS]
    if sdks:
        from tests.compat.stack import compat_stack

        with tempfile.TemporaryDirectory() as folder, compat_stack(Path(folder)) as stack:
            print(f"gateway up at {stack.url}", flush=True)
            rows += sdk_rows(stack, python, node_path, sdks)
    for cli in (c for c in chosen if c in CLIS):
        versions = manifest.get("clis", {}).get(cli)
        if versions is None:
            found = shutil.which(cli)
            versions = [{"version": cli_version(found), "bin": found}] if found else []
        for entry in versions:
            print(f"  {cli} {entry['version']}: running its tests", flush=True)
            cli_started = time.monotonic()
            got = cli_rows(cli, entry["version"], entry["bin"])
            for row in got:
                print(f"  {cli} {row.version} on {row.upstream}: {summary(row)}", flush=True)
            print(f"  ({time.monotonic() - cli_started:.0f}s)", flush=True)
            rows += got
    took = time.monotonic() - started
    newest = bool(manifest)
    title = "Newest releases" if newest else "Pinned set (CI)"
    section = render(rows, title, args.command, took)
    write(args.out, section, "compat-newest" if newest else "compat-pinned")
    print(section)
    return 1 if any(v.startswith("fail") for r in rows for v in r.cells.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
