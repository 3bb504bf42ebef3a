"""What every OpenAI wire format (Chat Completions with its legacy endpoints, and the
Responses API) shares on the client side: the error envelope, the model list, and the
request-field checks whose errors name the field the way the ``openai`` SDK shows it
(``messages[2].content``, ``input[1].call_id``). Not a codec: a module both OpenAI codec
packages read, so neither imports the other."""

from __future__ import annotations

import re
from typing import Any

import orjson

from .. import errors
from ..types import Image, ModelInfo, Tool

# Canonical error kind -> (OpenAI error.type, default code); see DESIGN.md's error table.
ERROR_SHAPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "authentication_error": ("invalid_api_key", "invalid_api_key"),
    "permission_error": ("permission_error", "permission_denied"),
    "not_found_error": ("model_not_found", "model_not_found"),
    "rate_limit_error": ("rate_limit_error", "rate_limit_exceeded"),
    "overloaded_error": ("api_error", "overloaded"),
    "timeout_error": ("api_error", "timeout"),
    "api_error": ("api_error", None),
}


def error_body(error: errors.GatewayError) -> dict[str, Any]:
    """``{"error": {"message", "type", "param", "code"}}`` as the OpenAI API writes it."""
    kind, code = ERROR_SHAPES.get(error.kind, ("api_error", None))
    return {
        "error": {
            "message": error.message,
            "type": kind,
            "param": error.param,
            "code": error.code or code,
        }
    }


BASE64 = re.compile(r"^[A-Za-z0-9+/\s]+=*\s*$")
DATA_URL = re.compile(r"^data:(?P<media>[\w.+-]+/[\w.+-]+)?(?:;[^,;]*)*;base64,(?P<data>.*)$", re.S)


def invalid(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


def expect(value: Any, kind: type | tuple[type, ...], what: str, param: str) -> Any:
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
    if not ok:
        raise invalid(f"{param} must be {what}", param)
    return value


def optional_number(body: dict, name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    return float(expect(value, (int, float), "a number", name))


def optional_int(body: dict, name: str, minimum: int = 1) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    expect(value, int, "an integer", name)
    if value < minimum:
        raise invalid(f"{name} must be at least {minimum}", name)
    return value


def image(part: dict, param: str) -> Image:
    spec = part.get("image_url")
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str) or not url:
        raise invalid("image_url.url must be a non-empty string", f"{param}.image_url.url")
    if url.startswith("data:"):
        match = DATA_URL.match(url)
        if not match or not match.group("data"):
            raise invalid(
                "image data URLs must look like data:<media type>;base64,<data>",
                f"{param}.image_url.url",
            )
        return Image(data=match.group("data"), media_type=match.group("media") or "image/png")
    if not url.startswith(("http://", "https://")):
        raise invalid(
            "image_url.url must be an http(s) URL or a base64 data URL", f"{param}.image_url.url"
        )
    return Image(url=url)


def call_arguments(raw: Any, param: str) -> tuple[dict[str, Any], str | None]:
    """A tool call's arguments as sent: an object, or text that is not one (a call cut
    off by max_tokens) kept as raw text, as the upstream wrote it and OpenAI takes back."""
    if isinstance(raw, dict):
        return raw, None
    expect(raw, str, "a JSON string", param)
    try:
        return arguments(raw, param), None
    except errors.InvalidRequest:
        return {}, raw


def arguments(raw: Any, param: str) -> dict[str, Any]:
    if isinstance(raw, dict):
        return raw
    expect(raw, str, "a JSON string", param)
    if not raw.strip():
        return {}
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid(f"{param} is not valid JSON", param) from None
    if not isinstance(parsed, dict):
        raise invalid(f"{param} must encode a JSON object", param)
    return parsed


def function_tool(fn: dict, param: str) -> Tool:
    name = expect(fn.get("name"), str, "a string", f"{param}.name")
    description = fn.get("description")
    if description is not None:
        expect(description, str, "a string", f"{param}.description")
    parameters = fn.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    expect(parameters, dict, "a JSON schema object", f"{param}.parameters")
    strict = fn.get("strict")
    if strict is not None:
        expect(strict, bool, "a boolean", f"{param}.strict")
    return Tool(name=name, description=description, parameters=parameters, strict=strict)


def render_models(models: list[ModelInfo]) -> dict:
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
            for m in models
        ],
    }
