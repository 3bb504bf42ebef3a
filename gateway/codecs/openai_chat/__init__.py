"""The OpenAI Chat Completions wire format (with the legacy completions and embeddings
endpoints, which share its maps): ``inbound`` (OpenAI clients) and ``outbound``
(OpenAI-compatible upstreams), sharing ``maps`` (finish reasons, usage, errors)."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import GatewayError, UpstreamError
from gateway.base.types import ChatRequest, ChatResponse, Usage
from gateway.codecs.base import Codec, Framing, Target
from gateway.codecs.openai_chat import editor, maps, outbound


class OpenAIChatCodec:
    name = "openai"
    framing: Framing = "sse+done"

    def build_request(self, request: ChatRequest, target: Target) -> dict[str, Any]:
        """The body for ``request``; the stream variant follows ``request.stream``
        over anything the caller's extra fields or the deployment's params say."""
        body = outbound.build_body(request, target)
        if request.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        else:
            body.pop("stream", None)
            body.pop("stream_options", None)
        return body

    def parse_response(self, data: Any) -> ChatResponse:
        error = outbound.answer_error(data)
        if error is not None:
            raise error
        return outbound.parse_response(data)

    def stream_parser(self) -> outbound.StreamParser:
        return outbound.StreamParser()

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return outbound.parse_error(status, body)

    def unsupported_params(self, request: ChatRequest, target: Target) -> list[str]:
        return outbound.unsupported_params(request, target)

    def model_list(self, data: Any) -> tuple[list[str], str]:
        models = data.get("data") if isinstance(data, dict) else None
        return [m["id"] for m in models or [] if isinstance(m, dict) and m.get("id")], ""

    # -- same-format passthrough (chat, legacy completions, embeddings) --
    def usage_of(self, data: Any) -> Usage:
        return maps.usage(data.get("usage") if isinstance(data, dict) else None)

    def stream_error(self, error: GatewayError) -> bytes:
        return maps.stream_error(error)

    # the functions themselves, not methods calling them: asked on every passed-through
    # answer (answer_error, answer_texts when checked), stream (stream_body), parsed event
    # (withheld) and event (skims)
    answer_error = staticmethod(outbound.answer_error)
    answer_texts = staticmethod(outbound.answer_texts)
    stream_body = staticmethod(outbound.stream_body)
    withheld = staticmethod(outbound.withheld)
    skims = staticmethod(outbound.skims)
    # what comes before the strings an event skims admits may differ in from another:
    # its text, and the padding OpenAI adds to each event (``SkimmingDecoder``)
    skim_keys = (b'"content":"', b'"obfuscation":"')
    stream_editor = staticmethod(editor.editor)

    def with_output_ceiling(
        self, body: dict[str, Any], ceiling: int, target: Target
    ) -> dict[str, Any]:
        if any(body.get(name) is not None for name in ("max_tokens", "max_completion_tokens")):
            return body
        return {**body, outbound.max_tokens_field(target): ceiling}


codec = OpenAIChatCodec()
CODEC = Codec(
    "openai",
    "OpenAI",
    client="gateway.codecs.openai_chat.inbound:CLIENT",
    upstream=codec,
    # Images go by URL; file parts take base64 data only, so the gateway fetches a
    # document URL (``gateway.core.media_inline``).
    media_urls=frozenset({"image"}),
    reasoning_as="effort",  # reasoning_effort: a token budget becomes a bucket
    past_reasoning="echoed",  # reasoning_content only to DeepSeek-style deployments
)

__all__ = ["CODEC", "OpenAIChatCodec", "codec"]
