"""Open a logged request in the playground: its inbound body, parsed by the gateway's own
dialect parser (chat, responses or anthropic) into a canonical ChatRequest, becomes the
playground's prefill (system, conversation, params, tools, route and dialect).

Parsing through the client codecs (``gateway.codecs``) rather than by hand means a replay reads a body
exactly as the gateway did when it served it: a Responses request's ``instructions``
and ``input`` items, an Anthropic system prompt given as blocks, system messages in the
middle of a conversation. Tool turns stay structured (an assistant message's
``tool_calls``, ``tool`` messages answering them), so the run sends them to every column
as that dialect's own tool calls and results; images and documents, which the
playground's conversation cannot carry, are named in bracketed text instead of dropped,
and so is a tool call or result left without its other half (no API takes it)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from console.playground import spec as specs
from gateway.base import types
from gateway.base.errors import GatewayError
from gateway.codecs import client as client_codec
from gateway.codecs.anthropic.outbound import EFFORT_BUDGETS

REPLAYABLE_DIALECTS = ("openai", "anthropic", "responses")


def _part_text(part: types.Part) -> str:
    """A text part's text, or a bracketed note for what the conversation cannot carry."""
    if isinstance(part, types.Text):
        return part.text
    if isinstance(part, types.Image):
        return "[image]"
    if isinstance(part, types.Document):
        if part.text is not None:
            return part.text
        return f"[document {part.filename or part.media_type or ''}]".replace(" ]", "]")
    if isinstance(part, types.ToolCall):
        return _call_text(_call(part))
    if isinstance(part, types.ToolResult):
        return _result_text(_result(part))
    if isinstance(part, types.Thinking):
        return ""  # the model's own reasoning is not part of what the user sent
    return f"[{getattr(part, 'kind', 'part')}]"  # e.g. a document: named, not lost


def _text(parts: Sequence[types.Part]) -> str:
    return "\n".join(t for t in (_part_text(p) for p in parts) if t).strip()


def _call(part: types.ToolCall) -> dict[str, str]:
    """A tool call as the playground's assistant message carries it (the logged
    arguments text when there is one, so the run sends the same bytes)."""
    arguments = part.raw_arguments or orjson.dumps(part.arguments).decode()
    return {"id": part.id, "name": part.name, "arguments": arguments}


def _result(part: types.ToolResult) -> dict[str, Any]:
    result: dict[str, Any] = {
        "role": "tool",
        "tool_call_id": part.call_id,
        "content": _text(part.content),
    }
    if part.is_error:
        result["is_error"] = True
    return result


def _call_text(call: dict[str, str]) -> str:
    return f"[called {call['name']}({call['arguments']})]"


def _result_text(result: dict[str, Any]) -> str:
    kind = "tool error" if result.get("is_error") else "tool result"
    return f"[{kind}: {result['content']}]"


def _add(turns: list[dict[str, Any]], turn: dict[str, Any]) -> None:
    """Append ``turn``, merged into the last one when both are user (or both assistant)
    turns: the dialects disagree on how a turn is split into messages."""
    last = turns[-1] if turns else None
    if last is None or last["role"] != turn["role"] or turn["role"] == "tool":
        turns.append(turn)
        return
    last["content"] = "\n\n".join(t for t in (last["content"], turn["content"]) if t)
    if turn.get("tool_calls"):
        last["tool_calls"] = [*last.get("tool_calls", []), *turn["tool_calls"]]


def _turns(messages: list[types.Message]) -> tuple[list[str], list[dict[str, Any]]]:
    """System texts found among the messages, and the user, assistant and tool turns:
    an assistant message's tool calls in ``tool_calls``, every tool result (whichever
    role carried it: a chat ``tool`` message, an Anthropic user turn) a ``tool``
    message, ahead of any text of the same turn."""
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        structured = (types.ToolCall, types.ToolResult)
        text = _text([p for p in message.parts if not isinstance(p, structured)])
        if message.role == "system":
            if text:
                system.append(text)
            continue
        if message.role == "assistant":
            calls = [_call(p) for p in message.parts if isinstance(p, types.ToolCall)]
            if text or calls:
                _add(turns, {"role": "assistant", "content": text, **_some("tool_calls", calls)})
            continue
        for part in message.parts:
            if isinstance(part, types.ToolResult):
                turns.append(_result(part))
        if text:
            _add(turns, {"role": "user", "content": text})
    return system, turns


def _some(key: str, items: list[Any]) -> dict[str, Any]:
    return {key: items} if items else {}


def _paired(turns: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The turns with every tool call answered by the results right after it: a call
    without a result (or a result without its call, e.g. the log kept the end of a
    longer conversation) is written out as bracketed text, which every API accepts."""
    paired: list[dict[str, Any]] = []
    n = 0
    while n < len(turns):
        turn = turns[n]
        n += 1
        if turn["role"] == "tool":  # no call of the turn before asked for it
            _add(paired, {"role": "user", "content": _result_text(turn)})
            continue
        calls = turn.get("tool_calls")
        if not calls:
            _add(paired, turn)
            continue
        results = []
        while n < len(turns) and turns[n]["role"] == "tool":
            results.append(turns[n])
            n += 1
        ids = {c["id"] for c in calls}
        answers: dict[str, dict[str, Any]] = {}
        strays = []
        for result in results:
            if result["tool_call_id"] in ids and result["tool_call_id"] not in answers:
                answers[result["tool_call_id"]] = result
            else:
                strays.append(result)
        kept = [c for c in calls if c["id"] in answers]
        said = [turn["content"], *(_call_text(c) for c in calls if c["id"] not in answers)]
        assistant = {"role": "assistant", "content": "\n".join(t for t in said if t)}
        _add(paired, {**assistant, **_some("tool_calls", kept)})
        paired += [answers[c["id"]] for c in kept]
        for stray in strays:
            _add(paired, {"role": "user", "content": _result_text(stray)})
    return paired


def _conversation(request: types.ChatRequest) -> tuple[str, list[dict[str, Any]]]:
    """The system prompt (top-level plus any system message found mid-conversation)
    and the conversation's turns, neighbours of the same role merged, ending with the
    prompt or with tool results (a trailing assistant prefill is dropped)."""
    found, turns = _turns(request.messages)
    system = [t.text for t in request.system if t.text] + found
    merged = _paired(turns)
    while merged and merged[-1]["role"] == "assistant":  # a prefill: the prompt ends before
        merged.pop()
    return "\n\n".join(system), merged


def _params(request: types.ChatRequest) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if request.temperature is not None:
        params["temperature"] = request.temperature
    if request.max_tokens is not None:
        params["max_tokens"] = request.max_tokens
    reasoning = request.reasoning
    if reasoning is not None:
        if reasoning.effort in specs.EFFORTS:
            params["reasoning_effort"] = reasoning.effort
        elif reasoning.effort == "minimal":
            params["reasoning_effort"] = "low"
        elif reasoning.budget_tokens is not None:
            params["reasoning_effort"] = effort_for_budget(reasoning.budget_tokens)
    return params


def effort_for_budget(budget: int) -> str:
    """The playground effort whose thinking budget (the Anthropic codec's table, the one
    its columns are sent with) first covers ``budget``: a replayed budget goes out as
    close to itself as an effort can say."""
    return next((e for e in specs.EFFORTS if budget <= EFFORT_BUDGETS[e]), specs.EFFORTS[-1])


def _tools(request: types.ChatRequest) -> list[dict[str, Any]]:
    return [
        {"name": t.name, "description": t.description or "", "parameters": t.parameters}
        for t in request.tools
    ]


def parse_logged(dialect: str, inbound: str) -> types.ChatRequest:
    """The canonical request of a logged inbound body, or a ``ValueError`` saying why
    it cannot be replayed (not JSON, cut short by the journal, refused by its parser)."""
    if dialect not in REPLAYABLE_DIALECTS:
        raise ValueError(f"requests in the {dialect or 'unknown'} dialect cannot be replayed")
    try:
        body = orjson.loads(inbound or b"")
    except orjson.JSONDecodeError:
        raise ValueError(
            "its body was not kept whole (body logging off, or cut at the size limit)"
        ) from None
    try:
        return client_codec(dialect).parse_request(body, {})
    except GatewayError as exc:
        raise ValueError(f"its body does not parse: {exc}") from None


def prefill_from_log(route: str, dialect: str, request_id: str, inbound: str) -> dict[str, Any]:
    """The playground prefill for a journaled request (its body as the client sent it).
    A body that cannot be replayed gives an empty prompt and ``replay_error``."""
    column_dialect = "anthropic" if dialect == "anthropic" else "openai"
    prefill: dict[str, Any] = {
        "system": "",
        "messages": [{"role": "user", "content": ""}],
        "params": {},
        "tools": [],
        "columns": [{"route": route, "dialect": column_dialect, "params": {}}],
        "blind": False,
        "replay_of": request_id,
    }
    try:
        request = parse_logged(dialect, inbound)
    except ValueError as exc:
        prefill["replay_error"] = str(exc)
        return prefill
    system, messages = _conversation(request)
    prefill.update(
        system=system,
        messages=messages or prefill["messages"],
        params=_params(request),
        tools=_tools(request),
    )
    if not route:
        prefill["columns"][0]["route"] = request.model
    return prefill
