"""Cohere v2 chat (``POST /v2/chat``) as a wire format; upstream direction only."""

from __future__ import annotations

from typing import Any

from gateway.codecs.base import Codec, Framing, OutboundCodec
from gateway.codecs.cohere import outbound


class CohereCodec(OutboundCodec):
    name = "cohere"
    framing: Framing = "sse"
    outbound = outbound

    def model_list(self, data: Any) -> tuple[list[str], str]:
        models = (data.get("models") if isinstance(data, dict) else None) or []
        return [m["name"] for m in models if isinstance(m, dict) and m.get("name")], ""


codec = CohereCodec()
CODEC = Codec("cohere", "Cohere v2 chat", upstream=codec, reasoning_as="budget")

__all__ = ["CODEC", "CohereCodec", "codec"]
