"""Reading a realtime WebSocket's messages (the OpenAI Realtime API's, Gemini Live's) as
they pass through: whether one names an event type, without decoding or copying it, and
the event object of one that must be read."""

from __future__ import annotations

from typing import Any

import orjson


def names(message: str | bytes, word: str) -> bool:
    """Whether ``message`` holds ``"word"`` (quoted), without copying it."""
    quoted = f'"{word}"'
    return quoted in message if isinstance(message, str) else quoted.encode() in message


def event(message: str | bytes) -> dict[str, Any] | None:
    """The message's JSON object; None for one that is not JSON or not an object."""
    try:
        decoded = orjson.loads(message)
    except orjson.JSONDecodeError:
        return None
    return decoded if isinstance(decoded, dict) else None
