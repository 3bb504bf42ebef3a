"""One Gemini Live session: its ``setup``, its usage, its journal row.

The ``setup`` (the client's first message) names the route (``setup.model``:
``models/<route>``, or Vertex AI's ``projects/P/locations/L/publishers/google/models/
<route>``); upstream it names the deployment's model instead (``with_model``), the rest
of it as the client sent it.

Usage comes in ``usageMetadata`` (``promptTokenCount`` with ``promptTokensDetails`` by
modality, ``cachedContentTokenCount``, ``responseTokenCount`` with its details,
``thoughtsTokenCount``, ``toolUsePromptTokenCount``). A turn's is the last one the
server sent before the turn ended (``turnComplete``, or a ``toolCall`` the model waits
on); one sent when no turn is open counts at once; one still pending when the session
ends counts then. Each counted turn is a ``response`` of the Realtime session's
accounting (``RealtimeUsage``: text, audio and image tokens in, cached or not; text and
audio out, thoughts as text), priced by the same ``realtime.cost`` and charged to the
key's budget by the same ``Session.charge`` as the turn ends. Only messages that name
one of these fields are parsed: audio chunks, the bulk of a session, never are."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from gateway.base import socket_messages
from gateway.base.errors import InvalidRequest
from gateway.core import realtime

MODELS_MARK = "models/"


def route_name(model: Any) -> str:
    """The route a ``setup.model`` names: what follows its first ``models/``."""
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequest("setup.model is required: models/<model>", param="setup.model")
    text = str(model).strip()
    _, mark, name = text.partition(MODELS_MARK)
    return name if mark and name else text


def read_setup(message: str | bytes) -> dict[str, Any]:
    """The client's first message, which must be ``{"setup": {...}}``."""
    try:
        event = orjson.loads(message)
    except orjson.JSONDecodeError:
        raise InvalidRequest("the first message is not JSON") from None
    if not isinstance(event, dict) or not isinstance(event.get("setup"), dict):
        raise InvalidRequest("the first message must be setup")
    return event


def with_model(setup: dict[str, Any], model: str) -> str:
    """``setup`` as the upstream gets it: naming ``model``."""
    inner = dict(setup["setup"])
    inner["model"] = model
    return orjson.dumps({**setup, "setup": inner}).decode()


def usage_of(meta: dict[str, Any]) -> dict[str, Any]:
    """``usageMetadata`` in the Realtime accounting's shape (``RealtimeUsage.add``)."""
    prompt = _count(meta.get("promptTokenCount")) + _count(meta.get("toolUsePromptTokenCount"))
    details = _modalities(meta.get("promptTokensDetails"))
    details_tool = _modalities(meta.get("toolUsePromptTokensDetails"))
    cached = _modalities(meta.get("cacheTokensDetails"))
    out = _modalities(meta.get("responseTokensDetails") or meta.get("candidatesTokensDetails"))
    response = _count(meta.get("responseTokenCount") or meta.get("candidatesTokenCount"))
    thoughts = _count(meta.get("thoughtsTokenCount"))
    audio_out = out.get("AUDIO", 0)
    return {
        "input_tokens": prompt,
        "output_tokens": response + thoughts,
        "input_token_details": {
            "audio_tokens": details.get("AUDIO", 0) + details_tool.get("AUDIO", 0),
            "image_tokens": details.get("IMAGE", 0) + details.get("VIDEO", 0),
            "cached_tokens": _count(meta.get("cachedContentTokenCount")),
            **(
                {
                    "cached_tokens_details": {
                        "audio_tokens": cached.get("AUDIO", 0),
                        "image_tokens": cached.get("IMAGE", 0) + cached.get("VIDEO", 0),
                    }
                }
                if cached
                else {}
            ),
        },
        "output_token_details": {
            "text_tokens": response + thoughts - min(audio_out, response),
            "audio_tokens": min(audio_out, response),
        },
    }


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _modalities(details: Any) -> dict[str, int]:
    """``[{"modality": "AUDIO", "tokenCount": 9}, ...]`` as ``{"AUDIO": 9}``."""
    counts: dict[str, int] = {}
    for item in details if isinstance(details, list) else ():
        if isinstance(item, dict) and isinstance(item.get("modality"), str):
            name = item["modality"]
            counts[name] = counts.get(name, 0) + _count(item.get("tokenCount"))
    return counts


@dataclass
class LiveSession(realtime.Session):
    """A relayed Live session: the Realtime session's budget charge and journal row,
    fed from the Live API's messages."""

    pending: dict[str, Any] | None = None  # the open turn's last usageMetadata
    turn_open: bool = False

    def observe_upstream(self, message: str | bytes) -> str | bytes:
        usage = socket_messages.names(message, "usageMetadata")
        if not (
            usage
            or socket_messages.names(message, "turnComplete")
            or socket_messages.names(message, "toolCall")
            or socket_messages.names(message, "modelTurn")
            or socket_messages.names(message, "interrupted")
        ):
            return message
        event = socket_messages.event(message)
        if event is None:
            return message
        content = event.get("serverContent")
        content = content if isinstance(content, dict) else {}
        if content.get("modelTurn") is not None:
            self.turn_open, self.responding = True, 1
        if isinstance(event.get("usageMetadata"), dict):
            self.pending = event["usageMetadata"]
        ends = content.get("turnComplete") is True or isinstance(event.get("toolCall"), dict)
        if ends or content.get("interrupted") is True:
            self.responding = 0
        if self.pending is not None and (ends or not self.turn_open):
            self.usage.add(usage_of(self.pending))
            self.pending = None
        if ends:
            self.turn_open = False
        return message

    def observe_client(self, message: str | bytes) -> str | bytes:
        return message

    def finish(self, **kwargs: Any) -> None:
        if self.pending is not None:  # the session ended mid-turn: its usage counts
            self.usage.add(usage_of(self.pending))
            self.pending = None
        super().finish(**kwargs)
