"""Cohere v2 chat (``POST /v2/chat``) as a wire format; upstream direction only."""

from __future__ import annotations

from typing import Any

from ...errors import UpstreamError
from ...types import ChatRequest, ChatResponse
from ..base import Target, register
from . import outbound


class CohereCodec:
    name = "cohere"
    framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return outbound.build_request(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)


codec = register(CohereCodec())

__all__ = ["CohereCodec", "codec"]
