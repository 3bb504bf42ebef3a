"""The compatibility tier's pinned set, as CI runs it: every Python SDK the test extra
installs (openai for Chat Completions and Responses, anthropic, google-genai,
openai-agents), each through its real flows (plain, stream, tool loop, thinking, image)
against one gateway on each upstream kind (OpenAI chat, Anthropic, Responses, Gemini
mocks on 127.0.0.1). The CLIs' pinned versions are their own modules
(tests/integration/test_claude_code.py, test_codex_cli.py, test_gemini_cli.py); the newest
releases run on demand: ``scripts/compat.sh --newest`` (docs/compat.md)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compat import matrix
from tests.compat.stack import UPSTREAMS, CompatStack, compat_stack, decide

PINNED = ("openai-chat", "openai-responses", "anthropic", "google-genai", "openai-agents")
# what a client has no way to ask for (its flows say n.a.)
NOT_APPLICABLE = {"openai-agents": {"thinking", "image"}}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CompatStack]:
    with compat_stack(tmp_path_factory.mktemp("compat")) as running:
        yield running


@pytest.mark.timeout(180)
@pytest.mark.parametrize("client", PINNED)
def test_the_pinned_sdk_passes_every_flow_on_every_upstream(stack: CompatStack, client: str):
    module = matrix.PYTHON_MODULES[client]
    if not matrix.installed(sys.executable, module):
        pytest.skip(f"{module} is not installed (pip install -e '.[test]')")
    rows = matrix.sdk_rows(stack, sys.executable, None, [client])
    assert [r.upstream for r in rows] == list(UPSTREAMS)
    for row in rows:
        expected = {
            f: "n.a." if f in NOT_APPLICABLE.get(client, ()) else "pass"
            for f in ("plain", "stream", "tools", "thinking", "image")
        }
        assert row.cells == expected, (row.upstream, row.cells, row.note)
    assert "Traceback" not in stack.gw.log()


def test_the_mocks_answer_from_what_is_asked() -> None:
    weather = {"role": "user", "content": "What is the weather? Use the tool."}
    assert decide({"messages": [weather], "tools": [{}]}).call
    assert not decide({"messages": [weather]}).call  # no tools: nothing to call
    result = {"role": "tool", "tool_call_id": "c", "content": "sunny-22"}
    assert decide({"messages": [weather, result], "tools": [{}]}).text == "TOOL-OK sunny-22"
    image = {"role": "user", "content": [{"type": "image", "source": {}}]}
    assert decide({"messages": [image]}).text == "IMAGE-SEEN"
    thought = decide({"contents": [], "generationConfig": {"thinkingConfig": {}}})
    assert thought.thought == "COMPAT-THOUGHT" and thought.text == "COMPAT-OK"


def test_the_document_keeps_each_set_in_its_own_section(tmp_path: Path) -> None:
    out = tmp_path / "compat.md"
    out.write_text("# Compatibility\n\nintro\n")
    row = matrix.Row("anthropic", "2.0.0", "gemini", {"plain": "pass", "tools": "fail: boom"})
    matrix.write(out, matrix.render([row], "Pinned set (CI)", "pytest", 60), "compat-pinned")
    newest = matrix.Row("codex", "0.9.0", "openai", {"stream": "pass"})
    matrix.write(out, matrix.render([newest], "Newest", "x", 1), "compat-newest")
    again = matrix.Row("anthropic", "2.0.1", "gemini", {"plain": "pass", "tools": "pass"})
    matrix.write(out, matrix.render([again], "Pinned set (CI)", "pytest", 60), "compat-pinned")
    text = out.read_text()
    assert text.startswith("# Compatibility\n\nintro\n")
    assert "2.0.1" in text and "2.0.0" not in text and "0.9.0" in text
    assert "| anthropic | 2.0.1 | gemini | pass | pass |" in text
    assert text.count("<!-- compat-pinned -->") == 1


def test_a_failed_cell_is_named_with_its_reason() -> None:
    row = matrix.Row("anthropic", "2.0.0", "gemini", {"plain": "pass", "tools": "fail: boom"})
    text = matrix.render([row], "Pinned", "pytest", 60)
    assert "**FAIL**" in text and "anthropic 2.0.0 on gemini, tools: boom" in text
    assert "1 passed, 1 failed" in text
