"""The Gemini ``generateContent`` wire format (Gemini API and Vertex AI). The upstream
half is ``outbound``; an inbound half (Gemini clients) would sit next to it as
``inbound``, sharing ``maps`` (finish reasons, usage, errors) and ``ids``."""

from __future__ import annotations

from typing import Any

from ...codecs.base import Target, register
from ...errors import UpstreamError
from ...types import ChatRequest, ChatResponse
from . import outbound


class GeminiCodec:
    name = "gemini"
    framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return outbound.build_request(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)

    def count_tokens_body(
        self, request: ChatRequest, target: Target, wrapped: bool
    ) -> dict[str, Any]:
        return outbound.count_tokens_body(request, target, wrapped)


codec = register(GeminiCodec())

__all__ = ["GeminiCodec", "codec"]
