"""The OpenAI Chat Completions wire format (with the legacy completions and embeddings
endpoints, which share its maps): ``inbound`` (OpenAI clients) and ``outbound``
(OpenAI-compatible upstreams), sharing ``maps`` (finish reasons, usage, errors)."""

from __future__ import annotations

from typing import Any

from ...errors import UpstreamError
from ...types import ChatRequest, ChatResponse
from ..base import Framing, Target, register
from . import outbound


class OpenAIChatCodec:
    name = "openai"
    framing: Framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return outbound.build_body(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)


codec = register(OpenAIChatCodec())

__all__ = ["OpenAIChatCodec", "codec"]
