"""The Gemini Interactions API wire format (``/v1beta/interactions``, ``/v1/interactions``).

``outbound`` is the upstream half (a Gemini deployment of kind ``gemini_interactions``:
``POST {api_base}/interactions``, stateless), sharing ``upstream_maps`` (tool-call ids
that carry thought signatures, statuses, usage, Google's error envelope). ``inbound``
is the client half (Interactions clients such as ``google-genai``'s
``client.interactions`` on ``POST /v1beta/interactions``), reading ``maps`` (the name,
statuses as finish reasons, usage, the error envelope with its string codes, SSE
framing); loaded only when a client speaks the format. What the gateway keeps between
a client's turns (``store``, ``previous_interaction_id``, ``background``) is not the
codec's: ``gateway.features.interactions.state``.
"""

from __future__ import annotations

from typing import Any

from gateway.base.types import ChatRequest
from gateway.codecs.base import Codec, Framing, OutboundCodec, Target
from gateway.codecs.gemini_interactions import outbound, upstream_maps


class GeminiInteractionsCodec(OutboundCodec):
    """``UpstreamCodec`` for ``POST {api_base}/interactions``."""

    name = outbound.NAME
    framing: Framing = "sse"  # ends with ``data: [DONE]``, which the de-framer drops
    outbound = outbound

    def unsupported_params(self, request: ChatRequest, target: Target) -> list[str]:
        return outbound.unsupported_params(request, target)

    def model_list(self, data: Any) -> tuple[list[str], str]:
        """The Gemini API's model list (``GET {api_base}/models``), ids without
        ``models/``."""
        names = [
            str(m.get("name", "")).removeprefix("models/")
            for m in (data.get("models") if isinstance(data, dict) else None) or []
            if isinstance(m, dict)
        ]
        return [n for n in names if n], str(data.get("nextPageToken") or "")


codec = GeminiInteractionsCodec()
CODEC = Codec(
    outbound.NAME,
    "Gemini Interactions",
    client="gateway.codecs.gemini_interactions.inbound:CLIENT",
    upstream=codec,
    past_reasoning="never",  # thought steps are not sent back (outbound's docstring)
)

__all__ = ["CODEC", "GeminiInteractionsCodec", "codec", "outbound", "upstream_maps"]
