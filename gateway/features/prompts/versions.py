"""Saving to the prompt registry (``/api/prompts`` and the console call these): a new
prompt with its first version, a new version (numbers go up by one, never reused), a
label moved; every check a ``PromptError`` naming the field, nothing half written.
The snapshot follows through the registry's version bump (``gateway.access.signals``)."""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, fields
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from gateway.features.prompts import template
from gateway.models.prompts import NAME_PATTERN, Prompt, PromptLabel, PromptVersion

ROLES = ("system", "developer", "user", "assistant")
NAME = re.compile(NAME_PATTERN)
LABEL = re.compile(r"^[a-z0-9][a-z0-9_-]{0,49}$")
EFFORTS = ("minimal", "low", "medium", "high")
MAX_MESSAGES = 200


class PromptError(ValueError):
    """A prompt, version or label that cannot be saved; ``field`` names the input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True, slots=True)
class Draft:
    """A version's content, checked: its columns (``_save``)."""

    messages: list[dict[str, str]]
    variables: list[str]
    model: str
    params: dict[str, Any]
    tools: list[dict[str, Any]]
    note: str


CONTENT = tuple(f.name for f in fields(Draft))  # a version's columns a Draft fills


def clean_name(given: Any) -> str:
    name = str(given or "").strip()
    if not NAME.match(name):
        raise PromptError(
            "name", "a prompt's name is 1-100 letters, digits, '.', '-' or '_' (no spaces)"
        )
    return name


def clean_label(given: Any) -> str:
    label = str(given or "").strip()
    if not LABEL.match(label):
        raise PromptError("label", "a label is 1-50 lower-case letters, digits, '-' or '_'")
    return label


def clean_messages(raw: Any) -> list[dict[str, str]]:
    if isinstance(raw, str):  # a text prompt: one user message
        raw = [{"role": "user", "content": raw}]
    if not isinstance(raw, list) or not raw:
        raise PromptError("messages", "a prompt needs at least one message")
    if len(raw) > MAX_MESSAGES:
        raise PromptError("messages", f"at most {MAX_MESSAGES} messages")
    out = []
    for n, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("role") not in ROLES:
            raise PromptError("messages", f"messages[{n}]: role must be one of {', '.join(ROLES)}")
        content = item.get("content")
        if not isinstance(content, str):
            raise PromptError("messages", f"messages[{n}]: content must be text")
        out.append({"role": str(item["role"]), "content": content})
    return out


def clean_params(raw: Any) -> dict[str, Any]:
    if raw in (None, ""):
        return {}
    if not isinstance(raw, dict):
        raise PromptError("params", "params must be an object")
    params: dict[str, Any] = {}
    for name, value in raw.items():
        if value in (None, ""):
            continue
        if name in ("temperature", "top_p"):
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise PromptError("params", f"{name} must be a number")
            if not 0 <= value <= (2 if name == "temperature" else 1):
                raise PromptError("params", f"{name} is out of range")
        elif name == "max_tokens":
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise PromptError("params", "max_tokens must be a whole number of at least 1")
        elif name == "reasoning_effort":
            if value not in EFFORTS:
                raise PromptError("params", f"reasoning_effort is one of {', '.join(EFFORTS)}")
        else:
            raise PromptError(
                "params",
                f"unknown param {name!r} (temperature, top_p, max_tokens, reasoning_effort)",
            )
        params[name] = value
    return params


def clean_tools(raw: Any) -> list[dict[str, Any]]:
    """``[{name, description, parameters}]`` (OpenAI's nested form accepted too)."""
    if raw in (None, ""):
        return []
    if not isinstance(raw, list):
        raise PromptError("tools", "tools must be a list")
    tools = []
    for n, item in enumerate(raw):
        fn = item.get("function", item) if isinstance(item, dict) else None
        if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
            raise PromptError("tools", f"tools[{n}] needs a name")
        schema = fn.get("parameters", fn.get("input_schema")) or {"type": "object"}
        if not isinstance(schema, dict):
            raise PromptError("tools", f"tools[{n}]: parameters must be a JSON schema object")
        tools.append({"name": fn["name"], "description": str(fn.get("description") or ""),
                      "parameters": schema})  # fmt: skip
    return tools


def draft(
    messages: Any, model: Any = "", params: Any = None, tools: Any = None, note: Any = ""
) -> Draft:
    cleaned = clean_messages(messages)
    return Draft(
        messages=cleaned,
        variables=template.variables_of(m["content"] for m in cleaned),
        model=str(model or "").strip()[:200],
        params=clean_params(params),
        tools=clean_tools(tools),
        note=str(note or "").strip()[:500],
    )


def create(name: Any, content: Draft, *, user: Any = None, description: Any = "",
           labels: tuple[str, ...] = ()) -> tuple[Prompt, PromptVersion]:  # fmt: skip
    """A new prompt with ``content`` as version 1 (and ``labels`` on it)."""
    name = clean_name(name)
    labels = tuple(clean_label(label) for label in labels)
    with transaction.atomic():
        if Prompt.objects.filter(name=name).exists():
            raise PromptError("name", f"a prompt named {name!r} exists already")
        prompt = Prompt.objects.create(
            name=name,
            description=str(description or "")[:500],
            created_by=user if getattr(user, "pk", None) else None,
        )
        version = _save(prompt, content, _author(user))
        for label in labels:
            move_label(prompt, label, version.number, _author(user))
    return prompt, version


def add_version(prompt: Prompt, content: Draft, *, by: str = "",
                labels: tuple[str, ...] = ()) -> PromptVersion:  # fmt: skip
    """``content`` as ``prompt``'s next version (numbered under a row lock, so two saves
    at once get two numbers)."""
    labels = tuple(clean_label(label) for label in labels)
    with transaction.atomic():
        Prompt.objects.select_for_update().filter(pk=prompt.pk).first()
        version = _save(prompt, content, by)
        for label in labels:
            move_label(prompt, label, version.number, by)
    return version


def _save(prompt: Prompt, content: Draft, by: str) -> PromptVersion:
    top = prompt.versions.aggregate(top=Max("number"))["top"] or 0
    version: PromptVersion = PromptVersion.objects.create(
        prompt=prompt, number=top + 1, created_by=by[:150], **asdict(content)
    )
    Prompt.objects.filter(pk=prompt.pk).update(updated_at=timezone.now())
    return version


def move_label(prompt: Prompt, label: Any, number: Any, by: str = "") -> PromptLabel:
    """Point ``label`` at version ``number`` of ``prompt``."""
    name = clean_label(label)
    try:
        version = prompt.versions.get(number=int(number))
    except (TypeError, ValueError, PromptVersion.DoesNotExist):
        raise PromptError("version", f"{prompt.name} has no version {number}") from None
    row: PromptLabel
    row, _ = PromptLabel.objects.update_or_create(
        prompt=prompt,
        name=name,
        defaults={"version": version, "updated_by": by[:150], "updated_at": timezone.now()},
    )
    return row


def remove_label(prompt: Prompt, label: str) -> bool:
    deleted, _ = PromptLabel.objects.filter(prompt=prompt, name=label).delete()
    return bool(deleted)


def _author(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_username()) if hasattr(user, "get_username") else str(user)


# --- the difference between two versions ----------------------------------------------------


def as_text(version: PromptVersion) -> list[str]:
    """A version as the lines a diff compares: its model and params, then each message
    under its role."""
    lines = [f"model: {version.model or '(the request’s)'}"]
    if version.params:
        lines.append(f"params: {json.dumps(version.params, sort_keys=True)}")
    for tool in version.tools or ():
        lines.append(f"tool: {tool.get('name')} — {tool.get('description', '')}")
    for message in version.messages:
        lines.append("")
        lines.append(f"[{message.get('role')}]")
        lines.extend(str(message.get("content", "")).splitlines() or [""])
    return lines


@dataclass(frozen=True, slots=True)
class DiffLine:
    kind: str  # same | added | removed
    old: int | None  # line number in the older version
    new: int | None
    text: str


def diff(older: PromptVersion, newer: PromptVersion) -> list[DiffLine]:
    """Line by line (``difflib.SequenceMatcher``): every line of both, marked."""
    import difflib

    a, b = as_text(older), as_text(newer)
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=a, b=b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.extend(
                DiffLine("same", i + 1, j + 1, a[i])
                for i, j in zip(range(i1, i2), range(j1, j2), strict=True)
            )
            continue
        out.extend(DiffLine("removed", i + 1, None, a[i]) for i in range(i1, i2))
        out.extend(DiffLine("added", None, j + 1, b[j]) for j in range(j1, j2))
    return out


def unified(older: PromptVersion, newer: PromptVersion) -> str:
    """The same difference as a unified diff (what ``/api/prompts/{name}/diff`` answers)."""
    import difflib

    name = older.prompt.name
    return "\n".join(
        difflib.unified_diff(
            as_text(older), as_text(newer),
            fromfile=f"{name} v{older.number}", tofile=f"{name} v{newer.number}", lineterm="",
        )
    )  # fmt: skip
