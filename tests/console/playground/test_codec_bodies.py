"""The playground writes its request bodies through the codecs: a canonical request
rendered by the column's codec, which the gateway's own client parser reads back as the
same request; a reasoning effort becomes the Anthropic codec's thinking budget; and no
console module spells a dialect's body itself."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from console.playground import spec as specs
from console.playground.replay import effort_for_budget
from gateway.base.types import Document, Image, Reasoning, Text, ToolCall, ToolResult
from gateway.codecs import client
from gateway.codecs.anthropic.outbound import EFFORT_BUDGETS

CONSOLE = Path(__file__).resolve().parents[3] / "console"
PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgAAACAAEA4iG8MwAAAABJRU5ErkJggg=="

HISTORY = [
    {
        "role": "user",
        "content": "Weather?",
        "attachments": [
            {"media_type": "image/png", "data": PNG, "name": "dot.png"},
            {"media_type": "application/pdf", "data": "JVBERi0=", "name": "a.pdf"},
        ],
    },
    {
        "role": "assistant",
        "content": "Checking.",
        "tool_calls": [{"id": "c1", "name": "wx", "arguments": '{"city": "Oslo"}'}],
    },
    {"role": "tool", "tool_call_id": "c1", "content": "rain"},
    {"role": "user", "content": "And tomorrow?"},
]
TOOLS = [{"name": "wx", "description": "the weather", "parameters": {"type": "object"}}]


@pytest.mark.parametrize("dialect", specs.DIALECTS)
def test_the_body_reads_back_as_the_request_it_was_written_from(dialect: str) -> None:
    params = specs.Params(temperature=0.4, max_tokens=20000, reasoning_effort="high")
    body = specs.build_body(dialect, "smart", "Be brief.", HISTORY, params, TOOLS)
    parsed = client(dialect).parse_request(body, {})
    assert parsed.model == "smart" and parsed.stream
    system = [p.text for p in parsed.system] + [
        m.text() for m in parsed.messages if m.role == "system"
    ]
    assert system == ["Be brief."]
    parts = [p for m in parsed.messages if m.role != "system" for p in m.parts]
    kinds = [type(p) for p in parts]
    assert kinds == [Image, Document, Text, Text, ToolCall, ToolResult, Text]
    call = parts[4]
    assert (call.id, call.name, call.arguments) == ("c1", "wx", {"city": "Oslo"})
    assert parts[5].call_id == "c1" and parts[5].content[0].text == "rain"
    assert (
        parts[1].data == "JVBERi0="
        and parts[0].data.endswith(PNG[-10:])
        or PNG in (parts[0].url or "")
    )
    assert [(t.name, t.description) for t in parsed.tools] == [("wx", "the weather")]
    assert parsed.max_tokens == 20000 and parsed.temperature == 0.4
    # Anthropic takes no thinking after tool calls made without it (history from another
    # model): its codec leaves thinking out there, and the sampling settings in.
    assert parsed.reasoning == (None if dialect == "anthropic" else Reasoning(effort="high"))


@pytest.mark.parametrize("effort", specs.EFFORTS)
def test_an_effort_is_sent_as_the_codecs_thinking_budget(effort: str) -> None:
    history = [{"role": "user", "content": "q"}]
    params = specs.Params(reasoning_effort=effort)
    anthropic = specs.build_body("anthropic", "r", "", history, params, [])
    assert anthropic["thinking"] == {"type": "enabled", "budget_tokens": EFFORT_BUDGETS[effort]}
    assert anthropic["max_tokens"] > EFFORT_BUDGETS[effort]
    assert specs.build_body("openai", "r", "", history, params, [])["reasoning_effort"] == effort
    # A replayed budget comes back as the effort that sends that budget again.
    assert effort_for_budget(EFFORT_BUDGETS[effort]) == effort


def test_no_second_effort_table_in_the_console() -> None:
    table = re.compile(r"""["']low["']\s*:\s*\d""")
    for path in CONSOLE.rglob("*.py"):
        assert not table.search(path.read_text()), path


# Keys only a dialect's request body has, written as a key: a console module that
# writes them is writing that dialect's JSON by hand instead of asking its codec.
WIRE_KEYS = re.compile(
    r"""["'](stream_options|input_schema|tool_use_id|tool_use|tool_result|image_url|"""
    r"""file_data|budget_tokens|max_completion_tokens|stop_sequences)["']\s*:"""
)


def test_no_console_module_writes_a_dialects_body() -> None:
    offenders = []
    for path in sorted(CONSOLE.rglob("*.py")):
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if WIRE_KEYS.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(CONSOLE.parent)}:{n}: {line.strip()}")
    assert offenders == []
