"""Gemini finish reasons, usage and error envelopes mapped to the canonical ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.base.errors import UpstreamError
from gateway.codecs.gemini import maps

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures" / "gemini"


@pytest.mark.parametrize(
    ("raw", "tools", "expected"),
    [
        ("STOP", False, "stop"),
        ("STOP", True, "tool_calls"),
        (None, False, "stop"),
        ("MAX_TOKENS", False, "length"),
        ("MAX_TOKENS", True, "length"),
        ("SAFETY", False, "content_filter"),
        ("RECITATION", False, "content_filter"),
        ("PROHIBITED_CONTENT", False, "content_filter"),
        ("MALFORMED_FUNCTION_CALL", True, "error"),
        ("SOMETHING_NEW", False, "stop"),
    ],
)
def test_finish_reasons(raw: str | None, tools: bool, expected: str) -> None:
    assert maps.finish_reason(raw, tools) == expected


def test_usage_counts_thoughts_as_output_and_cached_tokens_apart() -> None:
    usage = maps.usage(
        {
            "promptTokenCount": 1000,
            "cachedContentTokenCount": 800,
            "candidatesTokenCount": 50,
            "thoughtsTokenCount": 200,
            "toolUsePromptTokenCount": 10,
            "totalTokenCount": 1260,
        }
    )
    assert usage.input_tokens == 210 and usage.cache_read_tokens == 800
    assert usage.output_tokens == 250 and usage.reasoning_tokens == 200
    assert usage.prompt_tokens == 1010 and usage.total_tokens == 1260
    assert maps.usage_metadata(usage)["candidatesTokenCount"] == 50


def _error(name: str, status: int) -> UpstreamError:
    return maps.parse_error(status, (FIXTURES / name).read_bytes())


def test_invalid_api_key_is_an_authentication_failure_not_a_bad_request() -> None:
    error = _error("error_invalid_key.json", 400)
    assert error.status == 401 and error.kind == "authentication_error"
    assert not error.retryable and "API key not valid" in error.message


def test_quota_is_a_retryable_429_with_the_retry_delay() -> None:
    error = _error("error_quota.json", 429)
    assert error.status == 429 and error.kind == "rate_limit_error" and error.retryable
    assert error.retry_after == 21 and error.code == "RESOURCE_EXHAUSTED"


def test_unavailable_is_a_retryable_overload() -> None:
    error = _error("error_overloaded.json", 503)
    assert error.status == 503 and error.kind == "overloaded_error" and error.retryable


def test_too_long_prompt_is_recognised_as_a_context_window_error() -> None:
    error = _error("error_too_long.json", 400)
    assert error.status == 400 and not error.retryable and error.context_window_exceeded


@pytest.mark.parametrize(
    ("status", "name", "expected", "kind"),
    [
        (403, "PERMISSION_DENIED", 403, "permission_error"),
        (401, "UNAUTHENTICATED", 401, "authentication_error"),
        (404, "NOT_FOUND", 404, "not_found_error"),
        (500, "INTERNAL", 500, "api_error"),
        (504, "DEADLINE_EXCEEDED", 504, "timeout_error"),
    ],
)
def test_status_names(status: int, name: str, expected: int, kind: str) -> None:
    body = f'{{"error": {{"code": {status}, "message": "m", "status": "{name}"}}}}'.encode()
    error = maps.parse_error(status, body)
    assert (error.status, error.kind) == (expected, kind)


def test_error_in_a_list_and_non_json_bodies() -> None:
    listed = b'[{"error": {"code": 429, "message": "slow", "status": "RESOURCE_EXHAUSTED"}}]'
    assert maps.parse_error(429, listed).message.startswith("Gemini upstream: slow")
    html = maps.parse_error(502, b"<html>Bad Gateway</html>")
    assert html.status == 502 and "Bad Gateway" in html.message
    assert maps.error_from_object({"code": 503, "status": "UNAVAILABLE"}).status == 503
    assert maps.error_from_object({"status": "RESOURCE_EXHAUSTED"}).status == 429
