"""The Gemini ``generateContent`` wire format (Gemini API and Vertex AI). The upstream
half is ``outbound``; an inbound half (Gemini clients) would sit next to it as
``inbound``, sharing ``maps`` (finish reasons, usage, errors) and ``ids``."""

from __future__ import annotations

from typing import Any

from gateway.base.types import ChatRequest
from gateway.codecs.base import Codec, Framing, OutboundCodec, Target
from gateway.codecs.gemini import outbound


class GeminiCodec(OutboundCodec):
    name = "gemini"
    framing: Framing = "sse"
    outbound = outbound
    # what comes before a stream event's text as Gemini writes it (``TextDecoder``)
    skim_keys = (b'"text": "',)

    def model_list(self, data: Any) -> tuple[list[str], str]:
        """Models that can ``generateContent`` (ids without ``models/``)."""
        names = []
        for model in (data.get("models") if isinstance(data, dict) else None) or []:
            methods = model.get("supportedGenerationMethods")
            if methods is None or "generateContent" in methods:
                names.append(str(model.get("name", "")).removeprefix("models/"))
        return [name for name in names if name], str(data.get("nextPageToken") or "")

    def count_tokens_body(
        self, request: ChatRequest, target: Target, wrapped: bool
    ) -> dict[str, Any]:
        return outbound.count_tokens_body(request, target, wrapped)


codec = GeminiCodec()
CODEC = Codec(
    "gemini",
    "Gemini",
    client="gateway.codecs.gemini.inbound:CLIENT",
    upstream=codec,
    past_reasoning="never",  # thinking parts are not sent back (outbound's docstring)
)

__all__ = ["CODEC", "GeminiCodec", "codec"]
