"""The OpenAI Responses API wire format (``/v1/responses``): ``inbound`` (clients such
as the ``openai`` and ``openai-agents`` SDKs and Codex) and ``outbound`` (Responses API
upstreams), sharing ``maps`` (efforts, usage, finish reasons, error codes)."""

from __future__ import annotations

from typing import Any

from gateway.base.types import ChatRequest
from gateway.codecs.base import Codec, Framing, OutboundCodec, Target
from gateway.codecs.openai_responses import maps, outbound


class OpenAIResponsesCodec(OutboundCodec):
    """``UpstreamCodec`` for ``POST {api_base}/responses``."""

    name = "responses"
    framing: Framing = "sse"
    outbound = outbound

    def model_list(self, data: Any) -> tuple[list[str], str]:
        models = data.get("data") if isinstance(data, dict) else None
        return [m["id"] for m in models or [] if isinstance(m, dict) and m.get("id")], ""

    def unsupported_params(self, request: ChatRequest, target: Target) -> list[str]:
        return outbound.unsupported_params(request, target)


codec = OpenAIResponsesCodec()
CODEC = Codec(
    "responses",
    "OpenAI Responses",
    client="gateway.codecs.openai_responses.inbound:CLIENT",
    upstream=codec,
    # No stop sequences and a max_output_tokens floor: the gateway emulates both
    # (``gateway.core.emulation``) rather than dropping or raising them silently.
    takes_stop=False,
    min_output_tokens=maps.MIN_OUTPUT_TOKENS,
    reasoning_as="effort",  # reasoning.effort: a token budget becomes a bucket
)

__all__ = ["CODEC", "OpenAIResponsesCodec", "codec", "maps", "outbound"]
