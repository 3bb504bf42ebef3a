"""The Anthropic Messages wire format: ``inbound`` (clients on ``/v1/messages``) and
``outbound`` (Anthropic upstreams), sharing ``maps`` (stop reasons, error types, usage,
the error envelope)."""

from __future__ import annotations

from typing import Any

from ...errors import UpstreamError
from ...types import ChatRequest, ChatResponse
from ..base import Framing, Target, register
from . import outbound


class AnthropicCodec:
    name = "anthropic"
    framing: Framing = "sse"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        body = outbound.build_body(request, target)
        if request.stream:
            body["stream"] = True
        return body

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)


codec = register(AnthropicCodec())

__all__ = ["AnthropicCodec", "codec"]
