"""A prompt column's request for one dataset row (``runner.column_body`` asks it for a
column that names a registry prompt; ``prompt_runs`` starts such experiments).

The request names the prompt by reference (``prompt_id``, ``prompt_version``,
``prompt_variables``), so the gateway's own rewrite (``gateway.features.prompts``)
renders the version on the request path, as an application's call would be. The row
fills the variables from its metadata (every CSV column other than the prompt and the
reference joins it; a ``variables`` object too) and ``{{input}}`` from its own prompt
unless the metadata names ``input``. A version with a user message of its own
(``own``, fixed when the experiment starts: versions never change) is sent alone; one
without (a system prompt) is followed by the row's conversation and system prompt."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from console.evals.models import DatasetRow

INPUT = "input"  # the variable the row's own prompt fills


def variables_of(row: DatasetRow) -> dict[str, str]:
    """The values ``row`` gives a prompt's variables (text; other values as JSON)."""
    metadata = row.metadata if isinstance(row.metadata, dict) else {}
    nested = metadata.get("variables")
    values: dict[str, str] = {}
    for name, value in [
        *((k, v) for k, v in metadata.items() if k != "variables"),
        *(nested.items() if isinstance(nested, dict) else ()),
    ]:
        if value is not None:
            values[str(name)] = value if isinstance(value, str) else json.dumps(value)
    values.setdefault(INPUT, row.prompt())
    return values


def body(
    column: Mapping[str, Any],
    row: DatasetRow,
    build: Callable[..., dict[str, Any]],
    params: Any,
) -> dict[str, Any]:
    """The request of ``column`` (one with a ``prompt``) for ``row``; ``build`` is
    ``console.playground.spec.build_body`` and ``params`` the column's parsed params."""
    spec = column["prompt"]
    own = bool(spec.get("own"))
    made = build(
        "openai", column["route"], "" if own else row.system, [] if own else row.messages,
        params, [],
    )  # fmt: skip
    made["prompt_id"] = str(spec["name"])
    made["prompt_version"] = int(spec["version"])
    made["prompt_variables"] = variables_of(row)
    return made
