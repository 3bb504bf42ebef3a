"""A request that names a registry prompt, and the body it becomes.

Spellings (chosen to follow what clients already send):

- every chat dialect (OpenAI chat, Anthropic messages, Responses): LiteLLM's
  ``prompt_id`` (the prompt's name), ``prompt_variables`` (an object) and
  ``prompt_version`` (a number), plus ``prompt_label`` (ours: ``staging``, ...);
- ``/v1/responses``: also OpenAI's own ``prompt: {"id", "version", "variables"}``. An
  id the registry does not know that starts with ``pmpt_`` is OpenAI's stored prompt: the
  field is left for the upstream. ``version`` is a number (or its digits as text).

Which version: ``prompt_version`` if given, else ``prompt_label``'s, else the
``production`` label's, else the newest. The version's messages (their ``{{variables}}``
filled in) go before the request's own: system messages into the dialect's system
field (Anthropic) or first in the list; its model is used when the body names none, its
parameters and tools when the body sets none. The fields are taken out of the body
(never sent upstream); the journal row names the prompt and the version used."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.base.errors import InvalidRequest
from gateway.base.numbers import MAX_ROW_ID, ascii_int
from gateway.features.prompts import template
from gateway.features.prompts.entries import PromptEntry, VersionEntry

CHAT_FIELDS = ("prompt_id", "prompt_variables", "prompt_version", "prompt_label")
DIALECTS = frozenset({"openai", "responses", "anthropic"})
OPENAI_HOSTED = "pmpt_"  # OpenAI's own stored prompts' ids
# a version's params by dialect: (version's name, body's name)
PARAMS: dict[str, tuple[tuple[str, str], ...]] = {
    "openai": (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_tokens"),
               ("reasoning_effort", "reasoning_effort")),
    "responses": (("temperature", "temperature"), ("top_p", "top_p"),
                  ("max_tokens", "max_output_tokens")),
    "anthropic": (("temperature", "temperature"), ("top_p", "top_p"), ("max_tokens", "max_tokens")),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Reference:
    name: str
    version: int | None
    label: str | None
    variables: Mapping[str, Any]
    field: str  # the body field named in errors


def _version_number(value: Any, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidRequest(f"{field} must be a version number", param=field)
    if isinstance(value, int):
        return value
    number = ascii_int(value, MAX_ROW_ID) if isinstance(value, str) else None
    if number is not None:
        return number
    raise InvalidRequest(f"{field} must be a version number", param=field)


def _variables(value: Any, field: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidRequest(f"{field} must be an object of variable values", param=field)
    return value


def chat_reference(body: dict[str, Any]) -> Reference:
    """LiteLLM's spelling, taken out of ``body``."""
    name, variables, version, label = (body.pop(f, None) for f in CHAT_FIELDS)
    if not isinstance(name, str) or not name:
        raise InvalidRequest("prompt_id must be a prompt's name", param="prompt_id")
    if label is not None and (not isinstance(label, str) or not label):
        raise InvalidRequest("prompt_label must be a label's name", param="prompt_label")
    return Reference(
        name,
        _version_number(version, "prompt_version"),
        label,
        _variables(variables, "prompt_variables"),
        "prompt_id",
    )


def responses_reference(
    body: dict[str, Any], prompts: Mapping[str, PromptEntry]
) -> Reference | None:
    """OpenAI's ``prompt`` object, taken out of ``body`` when it names a registry prompt;
    None (the field left in place) for one of OpenAI's own stored prompts."""
    value = body.get("prompt")
    if not isinstance(value, dict):
        raise InvalidRequest("prompt must be an object {id, version, variables}", param="prompt")
    name = value.get("id")
    if not isinstance(name, str) or not name:
        raise InvalidRequest("prompt.id must be a prompt's name", param="prompt.id")
    if name not in prompts and name.startswith(OPENAI_HOSTED):
        return None
    del body["prompt"]
    return Reference(
        name,
        _version_number(value.get("version"), "prompt.version"),
        None,
        _variables(value.get("variables"), "prompt.variables"),
        "prompt.id",
    )


def _unknown(name: str, field: str) -> InvalidRequest:
    return InvalidRequest(f"no prompt named {name!r}", param=field, code="prompt_not_found")


def missing(body: Mapping[str, Any], prompts: Mapping[str, PromptEntry]) -> InvalidRequest | None:
    """The refusal of a body naming a prompt ``prompts`` lack, read before anything is
    taken out of it; None when the body names one they hold, none at all, or OpenAI's."""
    if "prompt_id" in body:
        name, field = body["prompt_id"], "prompt_id"
    else:
        value = body.get("prompt")
        name, field = (value.get("id"), "prompt.id") if isinstance(value, dict) else (None, "")
    if not isinstance(name, str) or not name or name in prompts:
        return None
    if field == "prompt.id" and name.startswith(OPENAI_HOSTED):
        return None
    return _unknown(name, field)


def resolve(ref: Reference, prompts: Mapping[str, PromptEntry]) -> VersionEntry:
    entry = prompts.get(ref.name)
    if entry is None:
        raise _unknown(ref.name, ref.field)
    chosen = entry.pick(ref.version, ref.label)
    if chosen is None:
        what = f"version {ref.version}" if ref.version is not None else f"label {ref.label!r}"
        raise InvalidRequest(
            f"prompt {ref.name!r} has no {what}", param=ref.field, code="prompt_not_found"
        )
    return chosen


def rendered(ref: Reference, version: VersionEntry) -> list[dict[str, str]]:
    """The version's messages with the variables filled in; a 400 naming every missing
    variable (and the version) when the request left some out."""
    absent = template.missing(version.variables, ref.variables)
    if absent:
        raise InvalidRequest(
            f"prompt {ref.name!r} version {version.number} needs "
            f"{'variable' if len(absent) == 1 else 'variables'} {', '.join(absent)}",
            param="prompt_variables" if ref.field == "prompt_id" else "prompt.variables",
            code="missing_prompt_variables",
        )
    try:
        values = {name: template.text_of(ref.variables[name]) for name in version.variables}
    except template.TemplateError as exc:
        raise InvalidRequest(str(exc), param="prompt_variables") from None
    return [
        {
            "role": str(m.get("role") or "user"),
            "content": template.render(str(m.get("content") or ""), values),
        }
        for m in version.messages
    ]


def _tools(dialect: str, tools: tuple[Mapping[str, Any], ...]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in tools:
        name, description = t.get("name"), t.get("description", "")
        schema = t.get("parameters") or {"type": "object"}
        if dialect == "openai":
            out.append(
                {
                    "type": "function",
                    "function": {"name": name, "description": description, "parameters": schema},
                }
            )
        elif dialect == "responses":
            out.append(
                {"type": "function", "name": name, "description": description, "parameters": schema}
            )
        else:
            out.append({"name": name, "description": description, "input_schema": schema})
    return out


def apply(
    dialect: str, body: dict[str, Any], version: VersionEntry, messages: list[dict[str, str]]
) -> None:
    """Write the rendered ``messages`` and the version's defaults into ``body``."""
    if dialect == "responses":
        own = body.get("input")
        if own is None:
            own = []
        elif isinstance(own, str):
            own = [{"role": "user", "content": own}]
        elif not isinstance(own, list):
            raise InvalidRequest("input must be a string or a list", param="input")
        body["input"] = [*messages, *own]
    elif dialect == "anthropic":
        system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
        if system:
            text = "\n\n".join(system)
            own_system = body.get("system")
            if isinstance(own_system, list):
                body["system"] = [{"type": "text", "text": text}, *own_system]
            elif isinstance(own_system, str) and own_system:
                body["system"] = f"{text}\n\n{own_system}"
            else:
                body["system"] = text
        turns = [m for m in messages if m["role"] not in ("system", "developer")]
        body["messages"] = [*turns, *_list(body.get("messages"))]
    else:
        body["messages"] = [*messages, *_list(body.get("messages"))]
    if version.model and not body.get("model"):
        body["model"] = version.model
    for ours, theirs in PARAMS[dialect]:
        if ours in version.params and theirs not in body:
            body[theirs] = version.params[ours]
    effort = version.params.get("reasoning_effort")
    if dialect == "responses" and effort and "reasoning" not in body:
        body["reasoning"] = {"effort": effort}
    if version.tools and not body.get("tools"):
        body["tools"] = _tools(dialect, version.tools)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidRequest("messages must be a list", param="messages")
    return value
