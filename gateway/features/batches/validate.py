"""The check of an OpenAI batch's input file, line by line, as OpenAI reports it.

OpenAI creates the batch whatever its file holds and reports what is wrong with the
lines in the batch's ``errors`` (the batch then ``failed``, with no line run): one
entry per problem, each with its ``code``, ``line`` (1-based), ``message`` and
``param``. The codes are the ones OpenAI's API returns: ``invalid_json_line``,
``missing_required_parameter``, ``duplicate_custom_id``, ``invalid_url``,
``streaming_unsupported``, ``model_not_found``, ``invalid_request``, ``empty_file``
and ``too_many_tasks``. A model the key may not use is reported as one OpenAI cannot
find. Blocking (the registry is read, nothing else): the caller runs it in a thread."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base.entries import KeyEntry

MAX_LINES = 50_000
MAX_ERRORS = 100  # reported, of a file with many bad lines (the rest add nothing)
# What each endpoint's body must hold (a line without it would only fail upstream).
REQUIRED_BODY: dict[str, tuple[tuple[str, type | tuple[type, ...]], ...]] = {
    "/v1/chat/completions": (("messages", list),),
    "/v1/completions": (("prompt", (str, list)),),
    "/v1/embeddings": (("input", (str, list)),),
    "/v1/responses": (),
}
TOP_LEVEL: tuple[tuple[str, type, str], ...] = (
    ("custom_id", str, "a string"),
    ("method", str, "a string"),
    ("url", str, "a string"),
    ("body", dict, "an object"),
)

Line = tuple[str, dict[str, Any]]
Problem = dict[str, Any]


def problem(code: str, message: str, line: int | None = None, param: str | None = None) -> Problem:
    return {"code": code, "message": message, "param": param, "line": line}


def model_problem(key: KeyEntry, model: Any, number: int) -> Problem | None:
    """What is wrong with a line's ``body.model`` for ``key``, if anything."""
    if not isinstance(model, str) or not model:
        return problem("invalid_request", "Model parameter is required.", number, "body.model")
    route = registry.current().route(model)
    if route is None or not route.enabled or not decide(key, "route.call", route):
        return problem(
            "model_not_found",
            f"The provided model '{model}' does not exist or this API key may not use it.",
            number,
            "body.model",
        )
    return None


def line_problems(
    key: KeyEntry, item: Any, number: int, endpoint: str, seen: set[str]
) -> list[Problem]:
    """What is wrong with one parsed line (``seen``: the custom_ids before it)."""
    if not isinstance(item, dict):
        return [problem("invalid_request", "Each line must be a JSON object.", number)]
    found: list[Problem] = []

    def add(code: str, message: str, param: str) -> None:
        found.append(problem(code, message, number, param))

    for name, kind, what in TOP_LEVEL:
        if name not in item:
            add("missing_required_parameter", f"Missing required parameter: '{name}'.", name)
        elif not isinstance(item[name], kind) or (kind is str and not item[name]):
            add("invalid_request", f"'{name}' must be {what}.", name)
    custom_id, method, url, body = (item.get(n) for n in ("custom_id", "method", "url", "body"))
    if isinstance(custom_id, str) and custom_id:
        if custom_id in seen:
            add(
                "duplicate_custom_id",
                "The custom_id for this request is a duplicate of another request. "
                "The custom_id parameter must be unique for each request in a batch.",
                "custom_id",
            )
        seen.add(custom_id)
    if isinstance(method, str) and method and method != "POST":
        add("invalid_request", "Only the POST method is supported.", "method")
    if isinstance(url, str) and url and url != endpoint:
        add(
            "invalid_url",
            "The URL provided for this request does not match the batch endpoint.",
            "url",
        )
    if isinstance(body, dict):
        if body.get("stream"):
            add(
                "streaming_unsupported",
                "Streaming is not supported in the Batch API.",
                "body.stream",
            )
        model = model_problem(key, body.get("model"), number)
        if model:
            found.append(model)
        for name, wanted in REQUIRED_BODY.get(endpoint, ()):
            if name not in body:
                add(
                    "invalid_request", f"{name.capitalize()} parameter is required.", f"body.{name}"
                )
            elif not isinstance(body[name], wanted):
                add("invalid_request", f"Invalid type for 'body.{name}'.", f"body.{name}")
    return found


def parse(
    key: KeyEntry, source: Iterable[bytes], endpoint: str
) -> tuple[list[Line], list[Problem]]:
    """The lines of an input file (read from the store line by line, never whole) and
    the problems found (the lines count only when there is no problem)."""
    lines: list[Line] = []
    found: list[Problem] = []
    seen: set[str] = set()
    for number, text in enumerate(source, start=1):
        if not text.strip():
            continue
        try:
            item = orjson.loads(text)
        except orjson.JSONDecodeError:
            found.append(
                problem("invalid_json_line", "This line is not parseable as valid JSON.", number)
            )
        else:
            wrong = line_problems(key, item, number, endpoint, seen)
            if wrong:
                found.extend(wrong)
            else:
                lines.append((item["custom_id"], item["body"]))
        if len(found) >= MAX_ERRORS:
            break
        if len(lines) + len(found) > MAX_LINES:
            return [], [
                problem(
                    "too_many_tasks",
                    f"The batch input file holds more than {MAX_LINES} requests, the most a "
                    "batch may hold.",
                )
            ]
    if not lines and not found:
        found.append(problem("empty_file", "The batch input file is empty.", param="input_file_id"))
    return lines, found[:MAX_ERRORS]
