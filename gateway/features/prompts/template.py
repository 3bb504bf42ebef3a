"""The template syntax: ``{{name}}`` (spaces inside the braces allowed: ``{{ name }}``),
as Portkey, Langfuse and Mustache write it. A name is letters, digits, ``_``, ``-`` and
``.``, starting with a letter or ``_``. Values are text: numbers and booleans are
written as JSON writes them; anything else is refused. Text that only looks like a
placeholder (``{{}}``, ``{{ two words }}``) is left as it is."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")


class TemplateError(ValueError):
    """Why a template cannot be rendered (names the variables), said to the caller."""


def variables_of(texts: Iterable[str]) -> list[str]:
    """The variable names the texts use, in order of first use."""
    seen: dict[str, None] = {}
    for text in texts:
        for match in VARIABLE.finditer(text):
            seen.setdefault(match.group(1), None)
    return list(seen)


def text_of(value: Any) -> str:
    """A variable's value as text (a Responses ``input_text`` object is its text)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict) and value.get("type") == "input_text":
        return str(value.get("text", ""))
    raise TemplateError("variable values must be text, numbers or booleans")


def render(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each placeholder replaced by its value (all must be present)."""
    return VARIABLE.sub(lambda m: values[m.group(1)], text)


def missing(names: Iterable[str], values: Mapping[str, Any]) -> list[str]:
    return [name for name in names if name not in values]
