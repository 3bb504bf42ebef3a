"""A session's requests read as one conversation: each request's messages (its logged
inbound body, parsed by its dialect's client codec as the gateway parsed it) and its
answer (the logged outbound body, through ``gateway.web.answers``).

A client such as Claude Code sends the whole conversation again with every request, so
a request shows only the messages that are new since the one before it (its earlier
messages and the answer before); a request whose conversation does not continue the
previous one (compacted, a side request) shows all of its own. Bodies that were not kept
or do not parse say so instead of vanishing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from gateway.base import types as t
from gateway.base.types import Document, Image, Message, Text, Thinking, ToolCall, ToolResult
from gateway.codecs import CODECS
from gateway.codecs import client as client_codec
from gateway.web.answers import logged_answer

MAX_TEXT = 4000  # characters of one turn shown (the log detail has the whole body)


@dataclass(slots=True)
class Turn:
    role: str  # system | user | assistant | tool
    text: str
    tools: list[str] = field(default_factory=list)  # "name(args)" of tool calls


@dataclass(slots=True)
class Step:
    """One request of the session: its new turns, its answer, or why neither shows."""

    log: Any
    turns: list[Turn]
    answer: Turn | None
    earlier: int = 0  # messages left out: shown with the requests before
    note: str = ""


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[:MAX_TEXT] + " …"


def part_text(part: t.Part) -> str:
    if isinstance(part, Text):
        return part.text
    if isinstance(part, Image):
        return "[image]"
    if isinstance(part, Document):
        return f"[document {part.filename or part.media_type or ''}]".replace(" ]", "]")
    if isinstance(part, ToolResult):
        inner = "\n".join(part_text(p) for p in part.content)
        return f"[{'error from' if part.is_error else 'result of'} tool call] {inner}".strip()
    if isinstance(part, Thinking | ToolCall):
        return ""
    return f"[{getattr(part, 'kind', 'part')}]"


def _call(part: ToolCall) -> str:
    args = orjson.dumps(part.arguments).decode() if part.arguments is not None else ""
    return f"{part.name}({args[:300]}{'…' if len(args) > 300 else ''})"


def turn_of(role: str, parts: list[t.Part]) -> Turn:
    text = "\n".join(t for t in (part_text(p) for p in parts) if t).strip()
    calls = [_call(p) for p in parts if isinstance(p, ToolCall)]
    shown = (
        "tool"
        if role == "user" and parts and all(isinstance(p, ToolResult) for p in parts)
        else role
    )
    return Turn(shown, _cut(text), calls)


def _request(dialect: str, inbound: str) -> t.ChatRequest | None:
    if not inbound or dialect not in CODECS or CODECS[dialect].client is None:
        return None
    try:
        body = orjson.loads(inbound)
        parsed: t.ChatRequest = client_codec(dialect).parse_request(body, {})
    except Exception:  # cut by the journal, not JSON, or a body its parser refuses
        return None
    return parsed


def _same(a: Message, b: Message) -> bool:
    return a.role == b.role and [part_text(p) for p in a.parts] == [part_text(p) for p in b.parts]


def thread(logs: list[Any], bodies: dict[int, Any]) -> list[Step]:
    """The steps of ``logs`` (oldest first), ``bodies`` their RequestBody rows by log id."""
    steps: list[Step] = []
    before: list[Message] = []  # the previous request's messages and its answer
    for log in logs:
        body = bodies.get(log.pk)
        request = _request(log.dialect, body.inbound_request if body else "")
        answer = logged_answer(log.dialect, body.outbound_response if body else "")
        answer_turn = turn_of("assistant", list(answer.parts)) if answer is not None else None
        if request is None:
            note = "no body kept for this request" if body is None else "its body cannot be read"
            steps.append(Step(log, [], answer_turn, note=note))
            before = []
            continue
        messages = list(request.messages)
        skip = 0
        if (
            before
            and len(messages) > len(before)
            and all(_same(m, p) for m, p in zip(messages, before, strict=False))
        ):
            skip = len(before)
        elif (
            before
            and len(messages) > len(before) - 1
            and all(_same(m, p) for m, p in zip(messages, before[:-1], strict=False))
        ):
            skip = len(before) - 1  # the answer came back in another shape: the prompt continues
        turns = []
        if not skip and request.system:
            turns.append(Turn("system", _cut("\n".join(t.text for t in request.system))))
        turns += [turn_of(m.role, list(m.parts)) for m in messages[skip:]]
        steps.append(Step(log, turns, answer_turn, earlier=skip))
        before = messages + ([Message("assistant", list(answer.parts))] if answer else [])
    return steps
