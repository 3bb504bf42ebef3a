"""The OpenAI Responses API wire format (``/v1/responses``): ``inbound`` (clients such
as the ``openai`` and ``openai-agents`` SDKs and Codex) and ``outbound`` (Responses API
upstreams), sharing ``maps`` (efforts, usage, finish reasons, error codes)."""

from __future__ import annotations

from typing import Any

from ...errors import UpstreamError
from ...types import ChatRequest, ChatResponse
from ..base import Framing, Target, register
from . import maps, outbound


class OpenAIResponsesCodec:
    """``UpstreamCodec`` for ``POST {api_base}/responses``."""

    name = "openai_responses"
    framing: Framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return outbound.build_request(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)

    def unsupported_params(self, request: ChatRequest, target: Target) -> list[str]:
        return outbound.unsupported_params(request, target)


CODEC = register(OpenAIResponsesCodec())

__all__ = ["CODEC", "OpenAIResponsesCodec", "maps", "outbound"]
