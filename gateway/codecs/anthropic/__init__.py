"""The Anthropic Messages wire format: ``inbound`` (clients on ``/v1/messages``) and
``outbound`` (Anthropic upstreams), sharing ``maps`` (stop reasons, error types, usage,
the error envelope)."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import GatewayError, UpstreamError
from gateway.base.types import ChatRequest, ChatResponse, Usage
from gateway.codecs.anthropic import editor, maps, outbound
from gateway.codecs.base import Codec, Framing, Target, WireEvent


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

    def model_list(self, data: Any) -> tuple[list[str], str]:
        models = data.get("data") if isinstance(data, dict) else None
        return [m["id"] for m in models or [] if isinstance(m, dict) and "id" in m], ""

    def usage_of(self, data: Any) -> Usage:
        return maps.usage(data.get("usage") if isinstance(data, dict) else None)

    def stream_error(self, error: GatewayError) -> bytes:
        return maps.stream_error(error)

    def answer_error(self, data: Any) -> UpstreamError | None:
        return None  # the Messages API reports errors with an error status

    def stream_body(self, body: dict[str, Any]) -> dict[str, Any]:
        return {**body, "stream": True}

    def withheld(self, event: WireEvent, body: dict[str, Any]) -> bool:
        return False

    # the functions themselves, not methods calling them: skims is asked once per
    # streamed event
    skims = staticmethod(outbound.skims)
    skim_keys = (b'"text":"',)  # what comes before an event's text (``SkimmingDecoder``)
    answer_texts = staticmethod(outbound.answer_texts)
    stream_editor = staticmethod(editor.editor)

    def with_output_ceiling(
        self, body: dict[str, Any], ceiling: int, target: Target
    ) -> dict[str, Any]:
        return body if body.get("max_tokens") is not None else {**body, "max_tokens": ceiling}


codec = AnthropicCodec()
CODEC = Codec(
    "anthropic",
    "Anthropic",
    client="gateway.codecs.anthropic.inbound:CLIENT",
    upstream=codec,
    reasoning_as="budget",  # thinking.budget_tokens: an effort becomes a budget
)

__all__ = ["CODEC", "AnthropicCodec", "codec"]
