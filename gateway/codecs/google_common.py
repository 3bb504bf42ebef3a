"""What Google's two wire formats (``gemini``: generateContent; ``gemini_interactions``:
the Interactions API) read alike from an upstream's error: the ``google.rpc`` status
names, the words of an over-long prompt, the error body's envelope. Each codec keeps what
it reads of the details (the reason that makes a refused key a 401, a retry delay).
Both also take tool and output schemas cleaned alike (``clean_schema``), and leave out
of a deployment's params alike what the model refuses (``without_refused``); their client
halves read a generation setting's number (``config_number``) and write a call's
arguments as an object (``call_arguments``, ``arguments_object``) alike."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.base.errors import InvalidRequest, UpstreamError
from gateway.base.types import ToolCall

# google.rpc.Code names -> the HTTP status Google pairs them with.
STATUS_CODES: dict[str, int] = {
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "ABORTED": 409,
    "ALREADY_EXISTS": 409,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "INTERNAL": 500,
    "UNKNOWN": 500,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
# Google words an over-long prompt this way; routing recognises "context length".
TOO_LONG = re.compile(r"input token count.*exceeds the maximum", re.IGNORECASE | re.DOTALL)


def error_fields(error: Any, status: int | None) -> tuple[dict[str, Any], str | None, str, int]:
    """(the error object, its status name, its message, the HTTP status): ``status`` when
    given, else the object's numeric ``code`` (4xx, 5xx), else its status name's, else 502."""
    error = error if isinstance(error, dict) else {}
    name = error.get("status") if isinstance(error.get("status"), str) else None
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    if status is None:
        code = error.get("code")
        status = code if isinstance(code, int) and code >= 400 else None
    if status is None:
        status = STATUS_CODES.get(name or "", 502)
    return error, name, message, status


def upstream_error(
    upstream: str, name: str | None, message: str, status: int, **more: Any
) -> UpstreamError:
    """The ``UpstreamError`` saying ``upstream``'s message (an over-long prompt named as
    such for routing), with the status name when the message does not hold it."""
    if TOO_LONG.search(message):
        message += " (context length exceeded)"
    text = f"{upstream} upstream: {message or name or f'status {status}'}"
    if name and name not in text:
        text += f" [{name}]"
    return UpstreamError(text, status=status, code=name, **more)


def parse_error(
    status: int, body: bytes, from_object: Callable[[Any, int], UpstreamError]
) -> UpstreamError:
    """The upstream's error body (an object, or a one-element list as the non-SSE stream
    endpoint writes it) as an ``UpstreamError`` carrying ``status``, by ``from_object``;
    a body without an error object gives its text as the message."""
    try:
        payload: Any = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        payload = None
    if isinstance(payload, list) and payload:
        payload = payload[0]
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        text = body.decode("utf-8", "replace").strip()[:500]
        error = {"message": text or f"answered {status}"}
    return from_object(error, status)


# JSON Schema meta keywords both APIs refuse in a schema.
_SCHEMA_DROP = frozenset({"$schema", "$id", "$comment"})


def clean_schema(schema: Any) -> Any:
    """A JSON schema as the Google APIs take it (``parametersJsonSchema``,
    ``responseJsonSchema``, an interaction's tool ``parameters``): meta keywords removed
    at every level (property names are kept even when they look like keywords)."""
    if isinstance(schema, list):
        return [clean_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_DROP:
            continue
        if key in ("properties", "$defs", "definitions", "patternProperties") and isinstance(
            value, dict
        ):
            out[key] = {name: clean_schema(sub) for name, sub in value.items()}
        elif key in ("enum", "const", "default", "examples", "required"):
            out[key] = value
        else:
            out[key] = clean_schema(value)
    return out


# Where a deployment's params nest Gemini's generation settings (generateContent's and
# the Interactions API's spelling).
GENERATION_CONFIGS = ("generationConfig", "generation_config")


def camel(name: str) -> str:
    """A snake_case name (``top_p``) in camelCase (``topP``), as generateContent spells it."""
    head, *rest = name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _spellings(name: str) -> tuple[str, str]:
    """A canonical parameter name (``top_p``) and its camelCase (``topP``): a Google
    deployment's params may give either (the codecs send the one their API takes)."""
    return name, camel(name)


def without_refused(
    params: Mapping[str, Any], refuses: frozenset[str]
) -> tuple[Mapping[str, Any], list[str]]:
    """A Google deployment's ``params`` without the parameters its model refuses
    (``Target.refuses``: the catalog's ``rejects``), under either spelling, at the top
    level and inside a nested generation config; and the canonical names left out,
    sorted. ``params`` itself, and no names, when nothing is refused (the usual case)."""
    if not refuses or not params:
        return params, []
    spelled = {s: name for name in refuses for s in _spellings(name)}
    dropped: set[str] = set()
    out: dict[str, Any] = {}
    for key, value in params.items():
        if key in spelled:
            dropped.add(spelled[key])
            continue
        if key in GENERATION_CONFIGS and isinstance(value, dict):
            inner = {k: v for k, v in value.items() if k not in spelled}
            dropped.update(spelled[k] for k in value if k in spelled)
            value = inner
        out[key] = value
    return (out, sorted(dropped)) if dropped else (params, [])


# --- the client halves ---------------------------------------------------------------------


def config_number(config: dict[str, Any], key: str, where: str, kind: type = float) -> Any:
    """``config[key]`` (a client's generation setting) as ``kind``, None when unset; not
    a number (or not whole, for ``int``) is refused naming ``where.key``."""
    value = config.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidRequest(f"{where}.{key} must be a number", param=key)
    if kind is int and value != int(value):
        raise InvalidRequest(f"{where}.{key} must be an integer", param=key)
    return kind(value)


def arguments_object(text: str) -> dict[str, Any]:
    """Tool call arguments written as JSON text, as the object both formats carry: an
    empty one when the text is blank, not JSON or not an object."""
    if not text.strip():
        return {}
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def call_arguments(call: ToolCall) -> dict[str, Any]:
    """A canonical call's arguments as an object: its own, else its raw text's."""
    if call.arguments or not call.raw_arguments:
        return call.arguments
    return arguments_object(call.raw_arguments)
