"""A coding agent's request, as Claude Code and Codex CLI send them, for the benchmark.

An agent's request is not the benchmark's 200-byte question: it carries a long system
prompt, a dozen or more tools with JSON schemas, and the whole tool loop so far (each
turn an assistant text and tool call, then the tool's result). ``anthropic_body`` builds
one in the Anthropic Messages dialect (cache_control marks as Claude Code sets them),
``openai_body`` the same conversation in OpenAI chat; ``turns`` sets its length (100
turns: about 120 KB). The content is generated, deterministic and free of secrets,
e-mail addresses and blocked words, so a guardrail passes it whole."""

from __future__ import annotations

import json
from typing import Any

SYSTEM = (
    "You are an interactive command line tool that helps users with software engineering "
    "tasks. Use the instructions below and the tools available to you to assist the user. "
    "Keep answers short; prefer editing existing files; run the tests after a change. "
) * 40

TOOL_NAMES = (
    "Bash", "Glob", "Grep", "LS", "Read", "Edit", "MultiEdit", "Write", "NotebookRead",
    "NotebookEdit", "WebFetch", "TodoWrite", "WebSearch", "Task", "ExitPlanMode",
    "BashOutput", "KillShell", "SlashCommand", "Skill", "ListMcpResources",
)  # fmt: skip


def _schema(index: int) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": "The absolute path to work on."},
            "pattern": {"type": "string", "description": "What to look for, as a regex."},
            "limit": {"type": "integer", "description": "How many lines at most."},
            "options": {
                "type": "object",
                "properties": {f"flag{n}": {"type": "boolean"} for n in range(index % 5 + 1)},
                "additionalProperties": False,
            },
        },
        "required": ["path"],
        "additionalProperties": False,
        "$schema": "http://json-schema.org/draft-07/schema#",
    }


def _description(name: str) -> str:
    return (
        f"{name}: performs this operation on the user's workspace and answers what it "
        "found. Use it when the task needs it; never guess a result. "
    ) * 6


def _result(turn: int) -> str:
    lines = [
        f"{n:>6}\tdef handler_{turn}_{n}(request):  # returns the answer for {n}" for n in range(12)
    ]
    return "\n".join(lines)


def anthropic_body(turns: int = 100, stream: bool = False, model: str = "bench") -> bytes:
    messages: list[dict[str, Any]] = [
        {
            "role": "user",
            "content": [{"type": "text", "text": "Fix the failing test in tests/test_app.py"}],
        }
    ]
    for turn in range(turns):
        call_id = f"toolu_{turn:020d}"
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": f"Step {turn}: I will look at the handler next."},
            {"type": "tool_use", "id": call_id, "name": TOOL_NAMES[turn % len(TOOL_NAMES)],
             "input": {"path": f"/work/app/module_{turn}.py", "limit": 200}},
        ]})  # fmt: skip
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call_id, "content": _result(turn)},
        ]})  # fmt: skip
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"name": name, "description": _description(name), "input_schema": _schema(i)}
            for i, name in enumerate(TOOL_NAMES)
        ],
        "messages": messages,
        "metadata": {"user_id": "user_bench_session_0001"},
    }
    if stream:
        body["stream"] = True
    return json.dumps(body, separators=(",", ":")).encode()  # compact, as the clients send it


def openai_body(turns: int = 100, stream: bool = False, model: str = "bench") -> bytes:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Fix the failing test in tests/test_app.py"},
    ]
    for turn in range(turns):
        call_id = f"call_{turn:020d}"
        messages.append({
            "role": "assistant",
            "content": f"Step {turn}: I will look at the handler next.",
            "tool_calls": [{"id": call_id, "type": "function", "function": {
                "name": TOOL_NAMES[turn % len(TOOL_NAMES)],
                "arguments": json.dumps({"path": f"/work/app/module_{turn}.py", "limit": 200}),
            }}],
        })  # fmt: skip
        messages.append({"role": "tool", "tool_call_id": call_id, "content": _result(turn)})
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": 64,
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": name,
                    "description": _description(name),
                    "parameters": _schema(i),
                },
            }
            for i, name in enumerate(TOOL_NAMES)
        ],  # fmt: skip
        "messages": messages,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body, separators=(",", ":")).encode()  # compact, as the clients send it
