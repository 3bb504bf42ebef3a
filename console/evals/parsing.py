"""Dataset files: JSONL (one object a line) or CSV (a header line). All or nothing: the
first bad line raises ``DatasetError`` naming it, and nothing is saved (the caller saves
the parsed rows in one transaction).

A row is ``prompt`` (text) or ``messages`` (a list of {role, content}), with optional
``system``, ``reference`` and ``metadata`` (an object; in CSV, a JSON object in that
column, and every other column joins it). The names other evaluation tools write are
read too: ``input`` for the prompt (text, a list of messages as OpenAI evals write, or
an object with ``messages``), and for the reference ``expected_output`` (Langfuse),
``ideal`` (OpenAI evals; a list of acceptable answers: the first, all of them kept in
``metadata.ideal``), ``expected`` and ``answer``."""

from __future__ import annotations

import contextlib
import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

MAX_BYTES = 50 * 1024 * 1024  # a file of this size or more is refused before parsing
MAX_ROWS = 100_000
# Deeper JSON is refused: Python's json (and the database adapter, the templates) would
# recurse into it until a RecursionError, a 500 instead of this module's clear error.
MAX_DEPTH = 32
ROLES = ("system", "user", "assistant")
REFERENCE_KEYS = ("reference", "expected_output", "ideal", "expected", "answer")
PROMPT_KEYS = ("prompt", "messages", "input")
KNOWN = {*PROMPT_KEYS, "system", "metadata", *REFERENCE_KEYS}


class DatasetError(ValueError):
    """The file cannot be imported; ``str()`` says where and why."""


@dataclass(slots=True)
class ParsedRow:
    messages: list[dict[str, str]]
    system: str = ""
    reference: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "system": self.system,
            "reference": self.reference,
            "metadata": self.metadata,
        }


def _loads(text: str) -> Any:
    """``json.loads``; nesting too deep for the parser is a ValueError like bad JSON."""
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep") from None


def _check_depth(value: Any, where: str) -> None:
    """Refuse objects and lists nested more than ``MAX_DEPTH`` levels (iteratively:
    the check itself must not recurse)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > MAX_DEPTH:
            raise DatasetError(f"{where}: nested more than {MAX_DEPTH} levels deep")
        stack.extend((child, depth + 1) for child in children)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False)


def _messages(raw: Any, where: str) -> list[dict[str, str]]:
    if isinstance(raw, str):
        try:
            raw = _loads(raw)
        except ValueError:
            raise DatasetError(f"{where}: messages is not a JSON list") from None
    if not isinstance(raw, list) or not raw:
        raise DatasetError(f"{where}: messages must be a non-empty list")
    messages = []
    for n, item in enumerate(raw, 1):
        if not isinstance(item, dict):
            raise DatasetError(f"{where}: message {n} is not an object")
        role, content = item.get("role"), item.get("content")
        if role not in ROLES:
            raise DatasetError(f"{where}: message {n} has role {role!r} (expected {ROLES})")
        if not isinstance(content, str):
            raise DatasetError(f"{where}: message {n} has no text content")
        messages.append({"role": role, "content": content})
    if messages[-1]["role"] != "user":
        raise DatasetError(f"{where}: the last message must be the user's")
    return messages


def row_from_object(obj: Any, where: str) -> ParsedRow:
    """One row from a JSON object (a JSONL line, an API item, an edited row)."""
    if not isinstance(obj, dict):
        raise DatasetError(f"{where}: expected a JSON object")
    _check_depth(obj, where)
    system = _text(obj.get("system"))
    obj = _with_input_read(obj)
    if obj.get("messages") not in (None, ""):
        messages = _messages(obj["messages"], where)
        # a system message at the head becomes the row's system prompt
        while messages and messages[0]["role"] == "system":
            system = "\n\n".join(s for s in (system, messages.pop(0)["content"]) if s)
        if not messages:
            raise DatasetError(f"{where}: messages hold no user message")
    elif obj.get("prompt") not in (None, ""):
        messages = [{"role": "user", "content": _text(obj["prompt"])}]
    else:
        raise DatasetError(f"{where}: needs a 'prompt', 'messages' or 'input' column")
    reference = next((_reference(obj[k]) for k in REFERENCE_KEYS if obj.get(k) is not None), "")
    metadata = obj.get("metadata") or {}
    if isinstance(metadata, str):
        try:
            metadata = _loads(metadata)
        except ValueError:
            raise DatasetError(f"{where}: metadata is not JSON") from None
        _check_depth(metadata, f"{where}: metadata")
    if not isinstance(metadata, dict):
        raise DatasetError(f"{where}: metadata must be an object")
    extra = {k: v for k, v in obj.items() if k not in KNOWN and v not in (None, "")}
    ideal = obj.get("ideal")
    if isinstance(ideal, list) and len(ideal) > 1:  # every acceptable answer, for scorers
        extra["ideal"] = ideal
    return ParsedRow(messages, system, reference, {**extra, **metadata})


def _with_input_read(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj`` with an ``input`` column read as ``messages`` (a list, an object holding
    them, or JSON text of either) or else as ``prompt``, unless those are given."""
    value = obj.get("input")
    if value in (None, "") or obj.get("messages") not in (None, "") or obj.get("prompt"):
        return obj
    if isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        with contextlib.suppress(ValueError):  # else the prompt as written
            value = _loads(value)
    if isinstance(value, dict) and isinstance(value.get("messages"), list):
        value = value["messages"]
    if isinstance(value, list):
        return {**obj, "messages": value}
    return {**obj, "prompt": value}


def _reference(value: Any) -> str:
    """A reference answer; of a list of acceptable ones (OpenAI evals' ``ideal``), the first."""
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return str(value[0])
    return _text(value)


def _decode(data: bytes) -> str:
    if len(data) >= MAX_BYTES:
        raise DatasetError(
            f"the file is {len(data) / 1048576:.1f} MB: the limit is {MAX_BYTES // 1048576} MB"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DatasetError(f"line {line}: not UTF-8 text") from None


def parse_jsonl(data: bytes) -> list[ParsedRow]:
    rows = []
    for number, line in enumerate(_decode(data).splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = _loads(line)
        except ValueError as exc:
            raise DatasetError(f"line {number}: not valid JSON ({exc.args[0]})") from None
        rows.append(row_from_object(obj, f"line {number}"))
        if len(rows) > MAX_ROWS:
            raise DatasetError(f"line {number}: more than {MAX_ROWS} rows")
    if not rows:
        raise DatasetError("the file holds no rows")
    return rows


def parse_csv(data: bytes) -> list[ParsedRow]:
    reader = csv.DictReader(io.StringIO(_decode(data), newline=""))
    header = reader.fieldnames or []
    if not set(PROMPT_KEYS) & set(header):
        raise DatasetError("line 1: the header needs a 'prompt', 'messages' or 'input' column")
    rows = []
    try:
        for record in reader:
            where = f"line {reader.line_num}"
            if None in record:  # more fields than the header
                raise DatasetError(f"{where}: more fields than the header has")
            rows.append(row_from_object(record, where))
            if len(rows) > MAX_ROWS:
                raise DatasetError(f"{where}: more than {MAX_ROWS} rows")
    except csv.Error as exc:
        raise DatasetError(f"line {reader.line_num}: {exc}") from None
    if not rows:
        raise DatasetError("the file holds no rows")
    return rows


def parse_file(name: str, data: bytes) -> list[ParsedRow]:
    """By extension: ``.csv`` is CSV, anything else JSONL (``.jsonl``, ``.json``)."""
    if name.lower().endswith(".csv"):
        return parse_csv(data)
    return parse_jsonl(data)
