"""AWS Bedrock Converse (``/model/{modelId}/converse`` and ``/converse-stream``): the
upstream half only. Streams are AWS event-stream frames (``aws-eventstream`` framing),
de-framed by the Bedrock provider; errors carry their type in a header, which the
provider passes to ``parse_error``."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import UpstreamError
from gateway.base.types import ChatRequest, ChatResponse
from gateway.codecs.base import Codec, Framing, Target
from gateway.codecs.bedrock import maps, outbound
from gateway.codecs.bedrock.stream import ConverseStreamParser


class BedrockConverseCodec:
    name = "bedrock"
    framing: Framing = "aws-eventstream"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        return outbound.build_request(request, target)

    def parse_response(self, data: Any) -> ChatResponse:
        return outbound.parse_response(data)

    def stream_parser(self) -> ConverseStreamParser:
        return ConverseStreamParser()

    def parse_error(self, status: int, body: bytes, error_type: str | None = None) -> UpstreamError:
        return outbound.parse_error(status, body, error_type)


codec = BedrockConverseCodec()
# Converse takes images and documents as bytes only: the gateway fetches URLs
# (``gateway.core.media_inline``).
CODEC = Codec(
    "bedrock", "Bedrock Converse", upstream=codec, media_urls=frozenset(), reasoning_as="budget"
)

__all__ = ["BedrockConverseCodec", "ConverseStreamParser", "codec", "maps", "outbound"]
