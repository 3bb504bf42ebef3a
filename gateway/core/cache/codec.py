"""The cache's two encodings: the lookup key of a canonical request, and a canonical
response as bytes (so a hit can be rendered to any client dialect).

No Django imports: pure functions over ``gateway.base.types``."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import orjson

from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Image,
    Part,
    Text,
    Thinking,
    ToolCall,
    Usage,
)

FORMAT = 1  # bump when the stored layout changes: older entries then read as misses
KEY_PREFIX = "switchyard:cache:"

# Request fields that change how an answer is delivered, not what it says.
_DELIVERY: dict[str, Any] = {"stream": False, "include_usage": False, "dialect": "", "echo": {}}


def request_key(
    route: str, request: ChatRequest, key_id: int | None | str = "", upstreams: str = ""
) -> str:
    """The cache key of ``request`` on ``route``: a hash of every canonical field that
    can change the answer (messages, tools, model parameters, extra fields), not of
    how it is delivered (streamed or not, the client's dialect). ``key_id`` is given
    for a key-scoped cache only ("master" for the master key); ``upstreams`` names the
    route's deployments, so repointing a route never serves the old model's answers."""
    headers = {k: v for k, v in request.headers.items() if k != "anthropic-version"}
    canonical = dataclasses.replace(request, **_DELIVERY, headers=headers)
    blob = orjson.dumps(
        [FORMAT, route, str(key_id), upstreams, canonical],
        option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS,
    )
    return f"{KEY_PREFIX}{route}:{hashlib.sha256(blob).hexdigest()}"


def encode(response: ChatResponse) -> bytes:
    return orjson.dumps({"v": FORMAT, "response": response})


_PARTS: dict[str, type[Part]] = {
    "text": Text,
    "image": Image,
    "tool_call": ToolCall,
    "thinking": Thinking,
}


def _part(data: dict[str, Any]) -> Part:
    cls = _PARTS[data.pop("kind")]
    return cls(**data)


def decode(raw: bytes) -> ChatResponse | None:
    """The response stored as ``raw``; None for an entry in another format."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or data.get("v") != FORMAT:
        return None
    body = data["response"]
    return ChatResponse(
        id=body["id"],
        model=body["model"],
        parts=[_part(p) for p in body["parts"]],
        finish_reason=body["finish_reason"],
        stop_sequence=body["stop_sequence"],
        usage=Usage(**body["usage"]),
        created=body["created"],
    )
