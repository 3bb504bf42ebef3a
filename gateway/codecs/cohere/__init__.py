"""Cohere v2 chat (``POST /v2/chat``) as a wire format; upstream direction only."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import UpstreamError
from gateway.base.types import ChatRequest, ChatResponse
from gateway.codecs.base import Codec, Framing, Target
from gateway.codecs.cohere import outbound


class CohereCodec:
    name = "cohere"
    framing: Framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return outbound.build_request(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)

    def model_list(self, data: Any) -> tuple[list[str], str]:
        models = (data.get("models") if isinstance(data, dict) else None) or []
        return [m["name"] for m in models if isinstance(m, dict) and m.get("name")], ""


codec = CohereCodec()
CODEC = Codec("cohere", "Cohere v2 chat", upstream=codec, reasoning_as="budget")

__all__ = ["CODEC", "CohereCodec", "codec"]
