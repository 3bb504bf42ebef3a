"""Agent sessions in each dialect's request shape, for the tests of bodies stored once:
``request(dialect, turns)`` is the body an agent sends after ``turns`` tool calls (the
system prompt, the tools and the whole loop so far), ``answer(dialect, turn)`` the
stream that answers it. Compact JSON with non-ASCII text and escapes, written as httpx
writes a body (``json.dumps`` with compact separators, ``ensure_ascii=False``)."""

from __future__ import annotations

import json
from typing import Any

DIALECTS = ("openai", "responses", "anthropic", "gemini")
SYSTEM = "You are a careful coding agent: édite les fichiers, run the tests — 完成. " * 30
TOOLS = ("read_file", "write_file", "run_tests", "search", "list_dir")


def compact(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def _schema(name: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "path": {"type": "string", "description": f"The path {name} works on."},
            "limit": {"type": "integer", "description": "How many lines at most."},
        },
        "required": ["path"],
    }


def _result(turn: int) -> str:
    """A tool's result: a file's lines (an agent's are kilobytes: 16 lines here)."""
    return "\n".join(f'{n:>4}\tdef f_{turn}_{n}(x):  # "quoted" \\ back ü' for n in range(16))


def _args(turn: int) -> dict[str, Any]:
    return {"path": f"/src/module_{turn}.py", "limit": 100 + turn}


def request(dialect: str, turns: int, model: str = "agent-model") -> bytes:
    """The request an agent of ``dialect`` sends after ``turns`` tool calls."""
    return compact(_BUILDERS[dialect](turns, model))


def _openai(turns: int, model: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Fix the failing test, s'il te plaît."},
    ]
    for turn in range(turns):
        call = f"call_{turn:012d}"
        messages.append({"role": "assistant", "content": f"Step {turn}: reading.", "tool_calls": [
            {"id": call, "type": "function", "function": {
                "name": TOOLS[turn % len(TOOLS)], "arguments": json.dumps(_args(turn))}}]})  # fmt: skip
        messages.append({"role": "tool", "tool_call_id": call, "content": _result(turn)})
    tools = [
        {"type": "function", "function": {"name": n, "description": f"{n} tool", "parameters": _schema(n)}}
        for n in TOOLS
    ]  # fmt: skip
    return {"model": model, "messages": messages, "tools": tools, "stream": True,
            "stream_options": {"include_usage": True}}  # fmt: skip


def _responses(turns: int, model: str) -> dict[str, Any]:
    items: list[dict[str, Any]] = [
        {"type": "message", "role": "user", "content": [
            {"type": "input_text", "text": "Fix the failing test, s'il te plaît."}]},
    ]  # fmt: skip
    for turn in range(turns):
        call = f"call_{turn:012d}"
        items.append({"type": "reasoning", "id": f"rs_{turn}", "summary": [],
                      "encrypted_content": f"gAAAA{turn:04d}" + "x" * 80})  # fmt: skip
        items.append({"type": "function_call", "call_id": call, "name": TOOLS[turn % len(TOOLS)],
                      "arguments": json.dumps(_args(turn))})  # fmt: skip
        items.append({"type": "function_call_output", "call_id": call, "output": _result(turn)})
    tools = [
        {"type": "function", "name": n, "description": f"{n} tool", "parameters": _schema(n),
         "strict": False}
        for n in TOOLS
    ]  # fmt: skip
    return {"model": model, "instructions": SYSTEM, "input": items, "tools": tools,
            "store": False, "include": ["reasoning.encrypted_content"], "stream": True}  # fmt: skip


def _anthropic(turns: int, model: str) -> dict[str, Any]:
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "Fix the failing test, s'il te plaît."}]}
    ]  # fmt: skip
    for turn in range(turns):
        call = f"toolu_{turn:012d}"
        messages.append({"role": "assistant", "content": [
            {"type": "text", "text": f"Step {turn}: reading."},
            {"type": "tool_use", "id": call, "name": TOOLS[turn % len(TOOLS)], "input": _args(turn)},
        ]})  # fmt: skip
        messages.append({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call, "content": _result(turn)}]})  # fmt: skip
    messages[-1]["content"][-1]["cache_control"] = {"type": "ephemeral"}  # moves every turn
    return {
        "model": model,
        "max_tokens": 4096,
        "system": [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral"}}],
        "tools": [
            {"name": n, "description": f"{n} tool", "input_schema": _schema(n)} for n in TOOLS
        ],
        "messages": messages,
        "metadata": {"user_id": "user_0001"},
        "stream": True,
    }


def _gemini(turns: int, model: str) -> dict[str, Any]:
    contents: list[dict[str, Any]] = [
        {"role": "user", "parts": [{"text": "Fix the failing test, s'il te plaît."}]}
    ]
    for turn in range(turns):
        name = TOOLS[turn % len(TOOLS)]
        contents.append({"role": "model", "parts": [
            {"functionCall": {"name": name, "args": _args(turn)},
             "thoughtSignature": f"CiQB{turn:06d}" + "A" * 40}]})  # fmt: skip
        contents.append({"role": "user", "parts": [
            {"functionResponse": {"name": name, "response": {"output": _result(turn)}}}]})  # fmt: skip
    return {
        "contents": contents,
        "systemInstruction": {"parts": [{"text": SYSTEM}]},
        "tools": [
            {
                "functionDeclarations": [
                    {"name": n, "description": f"{n} tool", "parameters": _schema(n)} for n in TOOLS
                ]
            }
        ],  # fmt: skip
        "generationConfig": {"temperature": 0.2, "thinkingConfig": {"thinkingBudget": 1024}},
    }


_BUILDERS = {"openai": _openai, "responses": _responses, "anthropic": _anthropic, "gemini": _gemini}


def answer(dialect: str, turn: int) -> bytes:
    """The stream answering request ``turn``: the step text and the tool call."""
    text = f"Step {turn}: reading."
    args = json.dumps(_args(turn))
    if dialect == "anthropic":
        events = [
            ("message_start", {"type": "message_start", "message": {"id": f"msg_{turn}", "role": "assistant", "content": []}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}),
            ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": f"toolu_{turn:012d}", "name": TOOLS[turn % len(TOOLS)], "input": {}}}),
            ("content_block_delta", {"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": args}}),
            ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 30}}),
            ("message_stop", {"type": "message_stop"}),
        ]  # fmt: skip
        return b"".join(f"event: {e}\ndata: {json.dumps(d)}\n\n".encode() for e, d in events)
    chunks = [{"delta": {"content": text}}, {"delta": {"tool_calls": [{"index": 0, "function": {"arguments": args}}]}}]  # fmt: skip
    return b"".join(f"data: {json.dumps(c)}\n\n".encode() for c in chunks) + b"data: [DONE]\n\n"


def records(
    dialect: str, turns: int, upstream: str | None = None, session: str = "s-1"
) -> list[Any]:
    """One journal record a turn of a ``dialect`` session: passed through (the upstream's
    bodies are the caller's with the model renamed) or, with ``upstream``, translated to
    that dialect. Request ids ``<session>-<turn>``, five seconds apart."""
    from gateway.journal import Record

    out = []
    for turn in range(turns):
        other = upstream or dialect
        out.append(
            Record(
                request_id=f"{session}-{turn:03d}",
                created_at=1_900_000_000.0 + 5 * turn,
                dialect=dialect,
                endpoint="chat",
                route="agent",
                status=200,
                session=session,
                inbound_request=request(dialect, turn),
                upstream_request=request(other, turn, model="upstream-model"),
                upstream_response=answer(other, turn).replace(b"msg_", b"up_"),
                outbound_response=answer(dialect, turn),
            )
        )
    return out
