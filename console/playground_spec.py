"""What the playground runs: a validated spec (columns, system, conversation, params,
tools), each column's conversation on a given turn, and the request body in either
dialect. Pure functions over plain data (no Django, no I/O) so they test in isolation."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

DIALECTS = ("openai", "anthropic")
EFFORTS = ("low", "medium", "high")
MIN_COLUMNS, MAX_COLUMNS = 2, 6
# Anthropic has no effort knob on the Messages API: an effort becomes a thinking budget.
THINKING_BUDGET = {"low": 1024, "medium": 4096, "high": 16384}
ANTHROPIC_DEFAULT_MAX_TOKENS = 1024


class SpecError(ValueError):
    """The user's playground input is not runnable; the message says why."""


@dataclass(slots=True)
class Params:
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: str | None = None

    def over(self, shared: Params) -> Params:
        """These params, falling back to ``shared`` for the ones left unset."""
        return Params(
            temperature=self.temperature if self.temperature is not None else shared.temperature,
            max_tokens=self.max_tokens if self.max_tokens is not None else shared.max_tokens,
            reasoning_effort=self.reasoning_effort or shared.reasoning_effort,
        )

    def as_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "")}


@dataclass(slots=True)
class Column:
    route: str
    dialect: str = "openai"
    params: Params = field(default_factory=Params)

    def as_dict(self) -> dict[str, Any]:
        return {"route": self.route, "dialect": self.dialect, "params": self.params.as_dict()}


@dataclass(slots=True)
class Spec:
    columns: list[Column]
    messages: list[dict[str, str]]
    system: str = ""
    params: Params = field(default_factory=Params)
    tools: list[dict[str, Any]] = field(default_factory=list)
    blind: bool = False
    replay_of: str = ""


# --- parsing the user's input ----------------------------------------------------------


def parse_params(raw: Any, where: str) -> Params:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: parameters must be an object")
    params = Params()
    temperature = raw.get("temperature")
    if temperature not in (None, ""):
        try:
            params.temperature = float(temperature)
        except (TypeError, ValueError):
            raise SpecError(f"{where}: temperature must be a number") from None
        if not 0 <= params.temperature <= 2:
            raise SpecError(f"{where}: temperature must be between 0 and 2")
    max_tokens = raw.get("max_tokens")
    if max_tokens not in (None, ""):
        try:
            params.max_tokens = int(max_tokens)
        except (TypeError, ValueError):
            raise SpecError(f"{where}: max tokens must be a whole number") from None
        if params.max_tokens < 1:
            raise SpecError(f"{where}: max tokens must be at least 1")
    effort = raw.get("reasoning_effort")
    if effort not in (None, "", "none"):
        if effort not in EFFORTS:
            raise SpecError(f"{where}: reasoning effort must be one of {', '.join(EFFORTS)}")
        params.reasoning_effort = effort
    return params


def parse_tools(raw: Any) -> list[dict[str, Any]]:
    """Tool definitions in OpenAI form ({"type": "function", "function": {...}}),
    Anthropic form ({"name", "input_schema"}) or plain {"name", "parameters"}, as a
    list of {"name", "description", "parameters"}."""
    if raw in (None, "", []):
        return []
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise SpecError("tools must be a JSON list of tool definitions")
    tools = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict):
            raise SpecError(f"tools[{n}] must be an object")
        fn = item.get("function") if isinstance(item.get("function"), dict) else item
        name = fn.get("name")
        if not isinstance(name, str) or not name:
            raise SpecError(f"tools[{n}] needs a name")
        schema = fn.get("parameters", fn.get("input_schema")) or {"type": "object"}
        if not isinstance(schema, dict):
            raise SpecError(f"tools[{n}] ({name}): the parameters schema must be an object")
        tools.append(
            {"name": name, "description": str(fn.get("description") or ""), "parameters": schema}
        )
    return tools


def parse_messages(raw: Any) -> list[dict[str, str]]:
    if not isinstance(raw, list):
        raise SpecError("messages must be a list")
    messages = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant"):
            raise SpecError(f"messages[{n}] must have role user or assistant")
        content = item.get("content")
        if not isinstance(content, str):
            raise SpecError(f"messages[{n}].content must be text")
        messages.append({"role": item["role"], "content": content})
    if not messages or messages[-1]["role"] != "user" or not messages[-1]["content"].strip():
        raise SpecError("write a prompt: the conversation must end with a user message")
    return messages


def parse_spec(data: Any, route_exists: Callable[[str], Any] | None = None) -> Spec:
    """Validate the playground's run request (the JSON the page sends)."""
    if not isinstance(data, dict):
        raise SpecError("the run request must be an object")
    raw_columns = data.get("columns")
    if not isinstance(raw_columns, list):
        raise SpecError("columns must be a list")
    if not MIN_COLUMNS <= len(raw_columns) <= MAX_COLUMNS:
        raise SpecError(f"pick {MIN_COLUMNS} to {MAX_COLUMNS} columns")
    columns = []
    for n, raw in enumerate(raw_columns, start=1):
        if not isinstance(raw, dict) or not isinstance(raw.get("route"), str) or not raw["route"]:
            raise SpecError(f"column {n}: choose a route")
        if route_exists is not None and not route_exists(raw["route"]):
            raise SpecError(f"column {n}: unknown route {raw['route']!r}")
        dialect = raw.get("dialect") or "openai"
        if dialect not in DIALECTS:
            raise SpecError(f"column {n}: dialect must be openai or anthropic")
        columns.append(
            Column(raw["route"], dialect, parse_params(raw.get("params"), f"column {n}"))
        )
    system = data.get("system") or ""
    if not isinstance(system, str):
        raise SpecError("the system prompt must be text")
    return Spec(
        columns=columns,
        messages=parse_messages(data.get("messages")),
        system=system,
        params=parse_params(data.get("params"), "shared parameters"),
        tools=parse_tools(data.get("tools")),
        blind=bool(data.get("blind")),
        replay_of=str(data.get("replay_of") or "")[:40],
    )


def blind_order(columns: list[Column], rng: random.Random | None = None) -> list[Column]:
    """The columns shuffled so that their position says nothing about who is who."""
    shuffled = list(columns)
    (rng or random).shuffle(shuffled)
    return shuffled


def label(index: int) -> str:
    return chr(ord("A") + index)


# --- the conversation each column sees ----------------------------------------------------


def column_history(
    messages: list[dict[str, str]],
    followups: list[str],
    results: list[list[dict[str, Any]]],
    column: int,
    turn: int,
) -> list[dict[str, str]]:
    """The messages column ``column`` is sent on ``turn``: the shared opening, then for
    every earlier turn this column's own answer and the next follow-up."""
    history = list(messages)
    for earlier in range(turn):
        answer = results[earlier][column] if earlier < len(results) else {}
        history.append({"role": "assistant", "content": answer_text(answer)})
        history.append({"role": "user", "content": followups[earlier]})
    return history


def answer_text(result: dict[str, Any]) -> str:
    """A column's answer as plain text for the next turn (tool calls described)."""
    text = result.get("text") or ""
    for call in result.get("tool_calls") or []:
        text += f"\n[called {call.get('name')}({call.get('arguments', '')})]"
    if not text.strip():
        text = f"[no answer: {result.get('error') or 'empty'}]"
    return text.strip()


# --- request bodies in each dialect -------------------------------------------------------


def build_body(
    dialect: str,
    route: str,
    system: str,
    history: list[dict[str, str]],
    params: Params,
    tools: list[dict[str, Any]],
) -> dict[str, Any]:
    """The streaming request body for ``route`` in ``dialect``."""
    if dialect == "anthropic":
        return _anthropic_body(route, system, history, params, tools)
    return _openai_body(route, system, history, params, tools)


def _openai_body(route, system, history, params: Params, tools) -> dict[str, Any]:
    messages = ([{"role": "system", "content": system}] if system else []) + history
    body: dict[str, Any] = {
        "model": route,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    if params.temperature is not None:
        body["temperature"] = params.temperature
    if params.max_tokens is not None:
        body["max_tokens"] = params.max_tokens
    if params.reasoning_effort:
        body["reasoning_effort"] = params.reasoning_effort
    if tools:
        body["tools"] = [
            {
                "type": "function",
                "function": {
                    "name": t["name"],
                    "description": t["description"],
                    "parameters": t["parameters"],
                },
            }
            for t in tools
        ]
    return body


def _anthropic_body(route, system, history, params: Params, tools) -> dict[str, Any]:
    max_tokens = params.max_tokens or ANTHROPIC_DEFAULT_MAX_TOKENS
    body: dict[str, Any] = {"model": route, "max_tokens": max_tokens, "stream": True}
    if system:
        body["system"] = system
    body["messages"] = history
    if params.reasoning_effort:
        budget = THINKING_BUDGET[params.reasoning_effort]
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
        # Anthropic requires max_tokens above the budget and no custom temperature.
        body["max_tokens"] = max(max_tokens, budget + ANTHROPIC_DEFAULT_MAX_TOKENS)
    elif params.temperature is not None:
        body["temperature"] = min(params.temperature, 1.0)
    if tools:
        body["tools"] = [
            {"name": t["name"], "description": t["description"], "input_schema": t["parameters"]}
            for t in tools
        ]
    return body
