"""Bedrock Converse vocabulary in one place: stop reasons, error types, usage, media
formats. Both halves of the codec read these tables."""

from __future__ import annotations

from typing import Any

from gateway.base.errors import UpstreamError
from gateway.base.types import FinishReason, Usage

# Converse document formats by media type: what a Bedrock upstream takes as bytes.
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
STOP_REASONS: dict[str, FinishReason] = {
    "end_turn": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "stop_sequence": "stop_sequence",
    "guardrail_intervened": "content_filter",
    "content_filtered": "content_filter",
}

# Error type (``x-amzn-errortype`` header, ``__type`` body field, or an event-stream
# exception's ``:exception-type``, first letter upper-cased) -> the status routing acts on.
# 429 and >= 500 are retried and fail over; 400/404 are the caller's or the deployment's
# fault; 403 is the gateway's credentials (routing moves on, never retries).
ERROR_STATUS: dict[str, int] = {
    "ThrottlingException": 429,
    "ServiceQuotaExceededException": 429,  # an account quota: another deployment may work
    "ModelNotReadyException": 429,
    "ValidationException": 400,
    "AccessDeniedException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 403,
    "MissingAuthenticationTokenException": 403,
    "ExpiredTokenException": 403,
    "ResourceNotFoundException": 404,
    "ModelTimeoutException": 408,
    "InternalServerException": 500,
    "ModelErrorException": 502,  # the model failed (AWS says 424): worth another try
    "ModelStreamErrorException": 502,
    "ServiceUnavailableException": 503,
}

IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}


def finish_reason(stop_reason: str | None, only_json_tool: bool = False) -> FinishReason:
    """The canonical finish for a Converse ``stopReason``; the JSON-output tool's
    ``tool_use`` is an ordinary stop (its input is the answer)."""
    reason = STOP_REASONS.get(stop_reason or "end_turn", "stop")
    if reason == "tool_calls" and only_json_tool:
        return "stop"
    return reason


def usage(data: dict[str, Any] | None) -> Usage:
    """Converse ``usage``: ``inputTokens`` excludes cache reads and writes, as the
    canonical ``input_tokens`` does."""
    data = data or {}
    return Usage(
        input_tokens=data.get("inputTokens") or 0,
        output_tokens=data.get("outputTokens") or 0,
        cache_read_tokens=data.get("cacheReadInputTokens") or 0,
        cache_write_tokens=data.get("cacheWriteInputTokens") or 0,
    )


def error_type_name(raw: str | None) -> str:
    """``ValidationException:http://internal...``, ``com.amazon...#ThrottlingException``
    or ``throttlingException`` (event streams) -> ``ThrottlingException``."""
    name = (raw or "").split(":", 1)[0].rsplit("#", 1)[-1].strip()
    return name[:1].upper() + name[1:]


def error(error_type: str | None, message: str | None, status: int | None) -> UpstreamError:
    """An ``UpstreamError`` for a Bedrock error: the status routing needs follows the
    type where it is known, else the HTTP status (502 when there is none)."""
    name = error_type_name(error_type)
    mapped = ERROR_STATUS.get(name) or status or 502
    text = message or name or f"Bedrock answered {mapped}"
    if name:
        text = f"{name}: {text}"
    return UpstreamError(text, status=mapped, code=name or None)
