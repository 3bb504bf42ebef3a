"""What every OpenAI wire format (Chat Completions with its legacy endpoints, and the
Responses API) shares on the client side: the error envelope, the model list, and the
request-field checks whose errors name the field the way the ``openai`` SDK shows it
(``messages[2].content``, ``input[1].call_id``). Not a codec: a module both OpenAI codec
packages read, so neither imports the other."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

from gateway.base import errors
from gateway.base.types import Image, ModelInfo, ResponseFormat, Tool, ToolChoice, messages_digest

# Canonical error kind -> (OpenAI error.type, default code); see DESIGN.md's error table.
ERROR_SHAPES: dict[str, tuple[str, str | None]] = {
    "invalid_request_error": ("invalid_request_error", None),
    "request_too_large": ("invalid_request_error", "request_too_large"),
    "authentication_error": ("invalid_api_key", "invalid_api_key"),
    "permission_error": ("permission_error", "permission_denied"),
    "not_found_error": ("invalid_request_error", "model_not_found"),  # as OpenAI answers
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


def http_error(status: int, raw: bytes, top_message: bool = False) -> errors.UpstreamError:
    """A non-2xx answer's ``{"error": {...}}`` (or ``{"error": "..."}``) envelope as an
    UpstreamError carrying the upstream's status, message, code and param; with
    ``top_message`` a top-level ``message`` is read when there is no ``error``."""
    message, code, param = "", None, None
    try:
        payload = orjson.loads(raw)
    except orjson.JSONDecodeError:
        payload = None
    detail = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(detail, dict):
        message = str(detail.get("message") or "")
        code = detail.get("code") if isinstance(detail.get("code"), str) else None
        param = detail.get("param") if isinstance(detail.get("param"), str) else None
    elif isinstance(detail, str):
        message = detail
    elif top_message and isinstance(payload, dict) and isinstance(payload.get("message"), str):
        message = payload["message"]
    if not message:
        message = raw.decode(errors="replace")[:500] or f"HTTP {status}"
    cls = errors.UpstreamOverloaded if status == 529 else errors.UpstreamError
    return cls(f"upstream returned {status}: {message}", status=status, code=code, param=param)


def invalid(message: str, param: str) -> errors.InvalidRequest:
    return errors.InvalidRequest(message, param=param)


def model_and_stream(body: Any) -> tuple[str, bool]:
    """A create body's ``model`` (required, a string) and ``stream`` (a boolean, false
    when absent), checked first in both OpenAI formats: the body must be an object."""
    if not isinstance(body, dict):
        raise invalid("the request body must be a JSON object", "body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise invalid("model is required and must be a string", "model")
    stream = body.get("stream", False)
    if stream is not True and stream is not False:  # (no call for the usual answer)
        raise invalid("stream must be a boolean", "stream")
    return model, stream


def with_parallel(choice: ToolChoice | None, body: dict[str, Any]) -> ToolChoice | None:
    """``choice`` with the body's ``parallel_tool_calls`` (a boolean), when it sets one
    (on an ``auto`` choice when it sets no ``tool_choice``)."""
    parallel = body.get("parallel_tool_calls")
    if parallel is None:
        return choice
    expect(parallel, bool, "a boolean", "parallel_tool_calls")
    choice = choice or ToolChoice()
    choice.parallel = parallel
    return choice


def expect(value: Any, kind: type | tuple[type, ...], what: str, param: str) -> Any:
    ok = isinstance(value, kind) and not (isinstance(value, bool) and kind in (int, (int, float)))
    if not ok:
        raise invalid(f"{param} must be {what}", param)
    return value


def optional_number(body: dict[str, Any], name: str) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    return float(expect(value, (int, float), "a number", name))


def optional_int(body: dict[str, Any], name: str, minimum: int = 1) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    expect(value, int, "an integer", name)
    if value < minimum:
        raise invalid(f"{name} must be at least {minimum}", name)
    return int(value)


# OpenAI's prompt-cache fields, Chat Completions and Responses alike (API reference,
# "prompt_cache_key" and "prompt_cache_retention"; the SDK's older spelling "in-memory"
# is taken too and sent as the API spells it now).
PROMPT_CACHE_RETENTIONS = {"in_memory": "in_memory", "in-memory": "in_memory", "24h": "24h"}


def end_user(body: dict[str, Any]) -> str | None:
    """Who the caller says the request is for: ``safety_identifier`` (OpenAI's
    successor of ``user``), else ``user``; either must be a string when given."""
    for name in ("safety_identifier", "user"):
        value = body.get(name)
        if value is not None:
            expect(value, str, "a string", name)
    return body.get("safety_identifier") or body.get("user") or None


def prompt_cache(body: dict[str, Any]) -> tuple[str | None, str | None]:
    """``prompt_cache_key`` and ``prompt_cache_retention``, validated."""
    key = body.get("prompt_cache_key")
    if key is not None:
        expect(key, str, "a string", "prompt_cache_key")
    retention = body.get("prompt_cache_retention")
    if retention is not None:
        if retention not in PROMPT_CACHE_RETENTIONS:
            raise invalid("prompt_cache_retention must be 'in_memory' or '24h'",
                          "prompt_cache_retention")  # fmt: skip
        retention = PROMPT_CACHE_RETENTIONS[retention]
    return key, retention


# Hosts known to take ``prompt_cache_key`` (other OpenAI-compatible servers may refuse
# an unknown field, so a key the client did not send goes only to these).
CACHE_KEY_HOSTS = ("api.openai.com", ".openai.azure.com")


def derived_cache_key(request: Any) -> str | None:
    """An OpenAI ``prompt_cache_key`` for an Anthropic client's request that marked
    breakpoints (it asked for caching; OpenAI caches on its own but routes by this key):
    a digest of the system prompt and the tool names, the prefix agents resend, so a
    session's turns reach the same cache. None when nothing was marked."""
    if request.dialect != "anthropic" or not _marked(request):
        return None
    digest = hashlib.sha256()
    for text in request.system:
        digest.update(text.text.encode())
    for tool in request.tools:
        digest.update(b"\x00" + tool.name.encode())
    return "sy-" + digest.hexdigest()[:32]


def _marked(request: Any) -> bool:
    if any(t.cache for t in request.tools) or any(t.cache for t in request.system):
        return True
    if messages_digest(request) is not None:  # unbuilt: their marks are the scan's
        return any(mark.startswith("messages.") for mark in request.cache_marks)
    for message in request.messages:
        for part in message.parts:
            if getattr(part, "cache", None):
                return True
            if any(inner.cache for inner in getattr(part, "content", ()) or ()):
                return True
    return False


def render_prompt_cache(request: Any, body: dict[str, Any], host: str | None = None) -> None:
    """Put the prompt-cache key and retention on an OpenAI body: the client's own, or
    for an Anthropic client's breakpoints a derived key. Other OpenAI-compatible servers
    may refuse fields they do not know (Mistral does), so a Chat Completions body
    carries them only to OpenAI and Azure OpenAI hosts, or when the client itself spoke
    Chat Completions; ``host`` None is a Responses upstream (OpenAI's own API)."""
    if host is not None and not host.endswith(CACHE_KEY_HOSTS) and request.dialect != "openai":
        return
    key = request.prompt_cache_key
    if key is None:
        key = derived_cache_key(request)
    if key is not None:
        body["prompt_cache_key"] = key
    if request.prompt_cache_retention is not None:
        body["prompt_cache_retention"] = request.prompt_cache_retention


def image(part: dict[str, Any], param: str) -> Image:
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
    # ``arguments`` inlined (an agent's history holds hundreds of calls): text that is
    # no JSON object is kept as sent
    if not raw.strip():
        return {}, None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return {}, raw
    return (parsed, None) if isinstance(parsed, dict) else ({}, raw)


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


def budget_effort(budget: int | None) -> str | None:
    """A reasoning token budget (Anthropic's thinking) as an effort: up to 4k low, up to
    16k medium, above high."""
    if budget is None:
        return None
    if budget <= 4096:
        return "low"
    return "medium" if budget <= 16384 else "high"


def function_tool(fn: dict[str, Any], param: str) -> Tool:
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


def response_format(spec: Any, param: str) -> ResponseFormat | None:
    """A format object as canonical (None when not given): Chat Completions'
    ``response_format`` (a json_schema format's name, schema and strict nested under
    ``json_schema``, the schema defaulting to ``{}``) or the Responses API's
    ``text.format`` (them on the format itself, the schema required). ``param`` names
    the object in errors."""
    if spec is None:
        return None
    expect(spec, dict, "an object", param)
    kind = spec.get("type")
    if kind in ("text", "json_object"):
        return ResponseFormat(type=kind)
    if kind != "json_schema":
        raise invalid(f"{param}.type must be text, json_object or json_schema", f"{param}.type")
    if param == "response_format":
        spec = expect(spec.get("json_schema"), dict, "an object", "response_format.json_schema")
        schema = spec.get("schema") or {}
        expect(schema, dict, "an object", "response_format.json_schema.schema")
    else:
        schema = expect(spec.get("schema"), dict, "a JSON schema object", "text.format.schema")
    return ResponseFormat(
        type="json_schema", schema=schema, name=spec.get("name"), strict=spec.get("strict")
    )


def render_models(models: list[ModelInfo]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [
            {"id": m.id, "object": "model", "created": m.created, "owned_by": m.owned_by}
            for m in models
        ],
    }
