"""What the playground runs: a validated spec (columns, system, conversation, params,
tools), each column's conversation on a given turn, and the request it sends: a
canonical ``ChatRequest`` that the column's codec writes in its dialect (the console
writes no dialect's JSON itself). Pure functions over plain data (no Django, no I/O) so
they test in isolation."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, TypeVar

from gateway.base import types
from gateway.base.errors import GatewayError
from gateway.codecs import request_body
from gateway.features import prompts

DIALECTS = ("openai", "anthropic")
Effort = Literal["low", "medium", "high"]
EFFORTS: tuple[Effort, ...] = ("low", "medium", "high")
MIN_COLUMNS, MAX_COLUMNS = 2, 6
# The highest temperature a dialect's API takes (Anthropic's range ends at 1); a
# column's higher setting is lowered to it.
TEMPERATURE_CEILING = {"anthropic": 1.0}
# Files a prompt may carry: images (both dialects) and PDFs (Anthropic documents, OpenAI
# file parts), inline as base64. The cap is on the base64 text of all of them together.
ATTACHMENT_TYPES = ("image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf")
MAX_ATTACHMENT_CHARS = 20 * 1024 * 1024


class SpecError(ValueError):
    """The user's playground input is not runnable; the message says why."""


@dataclass(slots=True)
class Params:
    temperature: float | None = None
    max_tokens: int | None = None
    reasoning_effort: Effort | None = None

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
    # registered MCP servers whose tools the gateway runs for this column (hosted loop)
    mcp_servers: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        data = {"route": self.route, "dialect": self.dialect, "params": self.params.as_dict()}
        if self.mcp_servers:
            data["mcp_servers"] = list(self.mcp_servers)
        return data


@dataclass(slots=True)
class Spec:
    columns: list[Column]
    messages: list[dict[str, Any]]
    system: str = ""
    params: Params = field(default_factory=Params)
    tools: list[dict[str, Any]] = field(default_factory=list)
    blind: bool = False
    replay_of: str = ""


# --- parsing the user's input ----------------------------------------------------------


N = TypeVar("N", int, float)


def _within(
    value: Any,
    convert: Callable[[Any], N],
    what: str,
    kind: str,
    lowest: int,
    highest: int | None = None,
) -> N:
    """``value`` as ``convert`` makes it, from ``lowest`` to ``highest`` (None: no
    ceiling), or the ``SpecError`` saying what ``what`` must be."""
    try:
        number = convert(value)
    except (TypeError, ValueError):
        raise SpecError(f"{what} must be {kind}") from None
    if highest is not None and not lowest <= number <= highest:
        raise SpecError(f"{what} must be between {lowest} and {highest}")
    if number < lowest:
        raise SpecError(f"{what} must be at least {lowest}")
    return number


def parse_params(raw: Any, where: str) -> Params:
    raw = raw or {}
    if not isinstance(raw, dict):
        raise SpecError(f"{where}: parameters must be an object")
    params = Params()
    temperature = raw.get("temperature")
    if temperature not in (None, ""):
        params.temperature = _within(temperature, float, f"{where}: temperature", "a number", 0, 2)
    max_tokens = raw.get("max_tokens")
    if max_tokens not in (None, ""):
        params.max_tokens = _within(max_tokens, int, f"{where}: max tokens", "a whole number", 1)
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
        function = item.get("function")
        fn = function if isinstance(function, dict) else item
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


def parse_attachments(raw: Any, where: str) -> list[dict[str, str]]:
    """Files on a user message: [{"media_type", "data" (base64), "name"}]."""
    if raw in (None, []):
        return []
    if not isinstance(raw, list):
        raise SpecError(f"{where}: attachments must be a list")
    files, total = [], 0
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or not isinstance(item.get("data"), str) or not item["data"]:
            raise SpecError(f"{where}: attachment {n + 1} has no data")
        media_type = item.get("media_type")
        if media_type not in ATTACHMENT_TYPES:
            raise SpecError(
                f"{where}: attachment {n + 1} is {media_type or 'of unknown type'}; "
                "attach PNG, JPEG, GIF or WebP images, or PDFs"
            )
        total += len(item["data"])
        name = str(item.get("name") or f"attachment-{n + 1}")[:200]
        files.append({"media_type": media_type, "data": item["data"], "name": name})
    if total > MAX_ATTACHMENT_CHARS:
        raise SpecError(f"{where}: attachments are larger than 15 MB together")
    return files


def parse_messages(raw: Any) -> list[dict[str, Any]]:
    """The opening conversation: user and assistant text, files on user messages, and
    tool turns as the client codecs read them (``gateway.base.types.ToolCall`` and
    ``ToolResult``) in the form the body builders take: an assistant message's
    ``tool_calls`` ([{"id", "name", "arguments"}], arguments as JSON text or an
    object), each answered by a ``{"role": "tool", "tool_call_id", "content",
    "is_error"?}`` message right after it. It ends with the prompt (a user message) or
    with tool results, which the models then answer."""
    if not isinstance(raw, list):
        raise SpecError("messages must be a list")
    messages: list[dict[str, Any]] = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ("user", "assistant", "tool"):
            raise SpecError(f"messages[{n}] must have role user, assistant or tool")
        messages.append(_parse_message(item, f"messages[{n}]"))
    _check_tool_turns(messages)
    last = messages[-1] if messages else None
    if last and last["role"] == "tool":
        return messages
    if (
        not last
        or last["role"] != "user"
        or not (last["content"].strip() or last.get("attachments"))
    ):
        raise SpecError("write a prompt: the conversation must end with a user message")
    return messages


def _parse_message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item["role"]
    content = item.get("content")
    if role == "assistant" and content is None:  # a tool-calling turn may say nothing
        content = ""
    if not isinstance(content, str):
        raise SpecError(f"{where}.content must be text")
    if role == "tool":
        call_id = item.get("tool_call_id")
        if not isinstance(call_id, str) or not call_id:
            raise SpecError(f"{where}: a tool result needs the tool_call_id it answers")
        result: dict[str, Any] = {"role": "tool", "tool_call_id": call_id, "content": content}
        if item.get("is_error") is True:
            result["is_error"] = True
        return result
    message: dict[str, Any] = {"role": role, "content": content}
    calls = item.get("tool_calls") or []
    if calls:
        if role != "assistant" or not isinstance(calls, list):
            raise SpecError(f"{where}: only assistant messages carry a list of tool_calls")
        message["tool_calls"] = [
            _parse_call(call, f"{where}.tool_calls[{k}]") for k, call in enumerate(calls)
        ]
    files = parse_attachments(item.get("attachments"), where)
    if files:
        if role != "user":
            raise SpecError(f"{where}: only user messages carry attachments")
        message["attachments"] = files
    return message


def _parse_call(call: Any, where: str) -> dict[str, str]:
    if not isinstance(call, dict):
        raise SpecError(f"{where} must be an object")
    function = call.get("function")
    fn = function if isinstance(function, dict) else call
    call_id, name = call.get("id"), fn.get("name")
    if not isinstance(call_id, str) or not call_id:
        raise SpecError(f"{where} needs an id (its result's tool_call_id)")
    if not isinstance(name, str) or not name:
        raise SpecError(f"{where} needs the name of the tool it calls")
    arguments = fn.get("arguments", "{}")
    if isinstance(arguments, dict):
        arguments = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
    if not isinstance(arguments, str):
        raise SpecError(f"{where}: arguments must be a JSON object or its text")
    return {"id": call_id, "name": name, "arguments": arguments or "{}"}


def _check_tool_turns(messages: list[dict[str, Any]]) -> None:
    """Every tool call is answered by a tool message right after its assistant turn,
    and every tool message answers one of those calls: both APIs refuse anything else."""
    caller = 0  # the last user or assistant turn
    waiting: dict[str, str] = {}  # its calls not yet answered: id -> tool name
    for n, message in enumerate(messages):
        if message["role"] == "tool":
            if waiting.pop(message["tool_call_id"], None) is None:
                raise SpecError(
                    f"messages[{n}]: tool result {message['tool_call_id']!r} answers no "
                    "call of the assistant message just before it"
                )
            continue
        _check_answered(waiting, caller)
        caller, waiting = n, {c["id"]: c["name"] for c in message.get("tool_calls") or []}
    _check_answered(waiting, caller)


def _check_answered(waiting: dict[str, str], caller: int) -> None:
    if waiting:
        raise SpecError(
            f"messages[{caller}]: every tool call needs a tool result right after it "
            f"(missing: {', '.join(waiting.values())})"
        )


def opening_text(messages: list[dict[str, Any]]) -> str:
    """What the opening turn says in a column's transcript: the prompt, or the tool
    results the conversation ends with (the models answer those)."""
    results: list[dict[str, Any]] = []
    for message in reversed(messages):
        if message["role"] != "tool":
            break
        results.insert(0, message)
    if results:
        return "\n".join(_result_line(r["tool_call_id"], r["content"]) for r in results)
    return messages[-1]["content"] if messages else ""


def _result_line(call_id: str, content: str) -> str:
    return f"[tool result {call_id}: {content}]"


def parse_followup(raw: Any, results: list[dict[str, Any]]) -> str | dict[str, Any]:
    """What the page sends to continue every column: a message, or tool results for the
    columns whose last answer called tools (typed by the user), with an optional
    message. ``results`` is the last turn's result of each column. A column that called
    no tool needs the message."""
    if isinstance(raw, str):
        raw = {"message": raw}
    if not isinstance(raw, dict):
        raise SpecError("a follow-up is a message or tool results")
    message = raw.get("message") or ""
    if not isinstance(message, str):
        raise SpecError("the follow-up message must be text")
    given = raw.get("tool_results") or {}
    if not isinstance(given, dict):
        raise SpecError("tool results must be an object of column: results")
    tool_results: dict[str, list[dict[str, str]]] = {}
    for column, answer in enumerate(results):
        calls = {c.get("id"): c for c in answer.get("tool_calls") or [] if c.get("id")}
        typed = given.get(str(column)) or []
        if not isinstance(typed, list):
            raise SpecError(f"column {label(column)}: tool results must be a list")
        chosen = []
        for item in typed:
            if not isinstance(item, dict) or item.get("call_id") not in calls:
                raise SpecError(f"column {label(column)}: a result for a tool call it did not make")
            chosen.append({"call_id": item["call_id"], "content": str(item.get("content") or "")})
        if chosen:
            missing = set(calls) - {c["call_id"] for c in chosen}
            if missing:
                names = ", ".join(calls[m].get("name") or m for m in sorted(missing))
                raise SpecError(f"column {label(column)}: give a result for every call ({names})")
            tool_results[str(column)] = chosen
        elif not message.strip():
            raise SpecError(
                f"column {label(column)} has no tool result to send: write a follow-up message"
            )
    if not tool_results:
        if not message.strip():
            raise SpecError("write a message to send to every column")
        return message
    return {"message": message, "tool_results": tool_results}


def parse_mcp_servers(raw: Any, where: str, usable: Callable[[str], bool] | None) -> list[str]:
    """A column's MCP servers: names of registered servers its user may attach."""
    if raw in (None, "", []):
        return []
    if not isinstance(raw, list) or not all(isinstance(name, str) for name in raw):
        raise SpecError(f"{where}: MCP servers must be a list of names")
    names = list(dict.fromkeys(name for name in raw if name))
    for name in names:
        if usable is None or not usable(name):
            raise SpecError(f"{where}: you may not use the MCP server {name!r}")
    return names


MAX_VARIABLES = 100
MAX_VARIABLE_CHARS = 100_000


def parse_variables(raw: Any) -> dict[str, str]:
    """A versioned prompt's ``{{variables}}`` as the page's fields filled them in
    (name -> text); each must be filled in."""

    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict) or len(raw) > MAX_VARIABLES:
        raise SpecError(f"variables must be an object of at most {MAX_VARIABLES} names")
    out: dict[str, str] = {}
    for name, value in raw.items():
        if not isinstance(name, str) or not prompts.is_variable_name(name):
            raise SpecError(f"{str(name)[:60]!r} is not a variable name")
        if not isinstance(value, str):
            raise SpecError(f"variable {name}: the value must be text")
        if not value.strip():
            raise SpecError(f"fill in the variable {name}")
        if len(value) > MAX_VARIABLE_CHARS:
            raise SpecError(f"variable {name}: at most {MAX_VARIABLE_CHARS} characters")
        out[name] = value
    return out


def fill(text: str, variables: dict[str, str]) -> str:
    """``text`` with the placeholders of ``variables`` filled in; any other
    ``{{placeholder}}`` is left as written."""

    return prompts.fill(text, variables)


def parse_spec(
    data: Any,
    route_exists: Callable[[str], Any] | None = None,
    mcp_usable: Callable[[str], bool] | None = None,
) -> Spec:
    """Validate the playground's run request (the JSON the page sends); ``mcp_usable``
    says which registered MCP servers the user may attach to a column (none: None)."""
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
            Column(
                raw["route"],
                dialect,
                parse_params(raw.get("params"), f"column {n}"),
                parse_mcp_servers(raw.get("mcp_servers"), f"column {n}", mcp_usable),
            )
        )
    system = data.get("system") or ""
    if not isinstance(system, str):
        raise SpecError("the system prompt must be text")
    variables = parse_variables(data.get("variables"))
    messages = parse_messages(data.get("messages"))
    if variables:
        system = fill(system, variables)
        for message in messages:
            if isinstance(message.get("content"), str):
                message["content"] = fill(message["content"], variables)
    return Spec(
        columns=columns,
        messages=messages,
        system=system,
        params=parse_params(data.get("params"), "shared parameters"),
        tools=parse_tools(data.get("tools")),
        blind=bool(data.get("blind")),
        replay_of=str(data.get("replay_of") or "")[:40],
    )


def blind_order(columns: list[Column]) -> list[Column]:
    """The columns shuffled so that their position says nothing about who is who."""
    shuffled = list(columns)
    random.shuffle(shuffled)
    return shuffled


def label(index: int) -> str:
    return chr(ord("A") + index)


# --- the conversation each column sees ----------------------------------------------------


def column_history(
    messages: list[dict[str, Any]],
    followups: list[str | dict[str, Any]],
    results: list[list[dict[str, Any]]],
    column: int,
    turn: int,
) -> list[dict[str, Any]]:
    """The messages column ``column`` is sent on ``turn``: the shared opening, then for
    every earlier turn this column's own answer and what followed it. After tool results
    typed by the user, the answer keeps its tool calls and each result answers its call;
    after a plain message, tool calls are described in the answer's text (a chat
    upstream refuses tool calls left without results)."""
    history = list(messages)
    for earlier in range(turn):
        answer = results[earlier][column] if earlier < len(results) else {}
        followup = followups[earlier]
        if isinstance(followup, str):
            followup = {"message": followup}
        given = (followup.get("tool_results") or {}).get(str(column)) or []
        if given:
            history.append(
                {
                    "role": "assistant",
                    "content": answer.get("text") or "",
                    "tool_calls": [
                        {"id": c["id"], "name": c["name"], "arguments": c.get("arguments") or "{}"}
                        for c in answer.get("tool_calls") or []
                    ],
                }
            )
            history += [
                {"role": "tool", "tool_call_id": r["call_id"], "content": r["content"]}
                for r in given
            ]
        else:
            history.append({"role": "assistant", "content": answer_text(answer)})
        if followup.get("message"):
            history.append({"role": "user", "content": followup["message"]})
    return history


def followup_text(followup: str | dict[str, Any], column: int | None = None) -> str:
    """What a follow-up says in a column's transcript: its tool results, then the
    message (``column`` None: every column's results)."""
    if isinstance(followup, str):
        return followup
    given = followup.get("tool_results") or {}
    chosen = given.values() if column is None else [given.get(str(column)) or []]
    lines = [_result_line(r["call_id"], r["content"]) for results in chosen for r in results]
    if followup.get("message"):
        lines.append(followup["message"])
    return "\n".join(lines)


def answer_text(result: dict[str, Any]) -> str:
    """A column's answer as plain text for the next turn (tool calls described)."""
    text = result.get("text") or ""
    for call in result.get("tool_calls") or []:
        text += f"\n[called {call.get('name')}({call.get('arguments', '')})]"
    if not text.strip():
        text = f"[no answer: {result.get('error') or 'empty'}]"
    return text.strip()


# --- the request each column sends ---------------------------------------------------------


def build_body(
    dialect: str,
    route: str,
    system: str,
    history: list[dict[str, Any]],
    params: Params,
    tools: list[dict[str, Any]],
) -> dict[str, Any]:
    """The streaming request body for ``route`` in ``dialect``: the column's request in
    the gateway's canonical types, written by the dialect's codec (``request_body``).
    Attachments become image and document parts, tool calls and results their own
    parts; a reasoning effort stays an effort (the Anthropic codec turns it into its
    thinking budget)."""
    temperature = params.temperature
    if temperature is not None and dialect in TEMPERATURE_CEILING:
        temperature = min(temperature, TEMPERATURE_CEILING[dialect])
    request = types.ChatRequest(
        model=route,
        system=[types.Text(system)] if system else [],
        messages=[_canonical_message(m) for m in history],
        tools=[types.Tool(t["name"], t["description"] or None, t["parameters"]) for t in tools],
        max_tokens=params.max_tokens,
        temperature=temperature,
        reasoning=types.Reasoning(effort=params.reasoning_effort)
        if params.reasoning_effort
        else None,
        stream=True,
        include_usage=True,
    )
    try:
        return request_body(dialect, request)
    except GatewayError as exc:  # what the dialect cannot carry, said by its codec
        raise SpecError(f"{route} via {dialect}: {exc}") from None


def _canonical_message(message: dict[str, Any]) -> types.Message:
    role = message["role"]
    if role == "tool":
        result = types.ToolResult(
            message["tool_call_id"],
            [types.Text(message["content"])] if message["content"] else [],
            is_error=bool(message.get("is_error")),
        )
        return types.Message("tool", [result])
    parts: list[types.Part] = []
    for f in message.get("attachments") or []:
        if f["media_type"] == "application/pdf":
            parts.append(
                types.Document(media_type=f["media_type"], data=f["data"], filename=f["name"])
            )
        else:
            parts.append(types.Image(data=f["data"], media_type=f["media_type"]))
    if message["content"]:
        parts.append(types.Text(message["content"]))
    for call in message.get("tool_calls") or []:
        arguments = call["arguments"] or "{}"
        parts.append(
            types.ToolCall(call["id"], call["name"], _arguments_object(arguments), arguments)
        )
    return types.Message(role, parts)


def _arguments_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {"arguments": text}
    return value if isinstance(value, dict) else {"value": value}
