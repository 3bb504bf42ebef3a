"""Cohere's error envelope (``{"id", "message"}`` with the HTTP status) mapped to the
gateway's errors, and so to the retry and failover rules and the caller's dialect."""

from __future__ import annotations

import pytest

from gateway.base.errors import UpstreamError, UpstreamTimeout
from gateway.codecs.cohere import codec


@pytest.mark.parametrize(
    ("status", "message", "expected", "kind", "retryable"),
    [
        (
            400,
            "invalid request: message must not be empty in a turn",
            400,
            "invalid_request_error",
            False,
        ),
        (401, "invalid api token", 401, "authentication_error", False),
        (498, "invalid api token", 401, "authentication_error", False),
        (402, "Please add a payment method", 403, "permission_error", False),
        (404, "model 'command-x' not found", 404, "not_found_error", False),
        (422, "unprocessable", 400, "invalid_request_error", False),
        (429, "You are past the per minute request limit", 429, "rate_limit_error", True),
        (499, "request cancelled", 502, "api_error", True),
        (500, "internal server error", 500, "api_error", True),
        (503, "service unavailable", 503, "overloaded_error", True),
    ],
)
def test_status_and_message(
    status: int, message: str, expected: int, kind: str, retryable: bool
) -> None:
    body = f'{{"id": "e7d2", "message": "{message}"}}'.encode()
    error = codec.parse_error(status, body)
    assert isinstance(error, UpstreamError)
    assert (error.status, error.kind, error.retryable) == (expected, kind, retryable)
    assert message in error.message and str(status) in error.message


def test_gateway_timeout_is_an_upstream_timeout() -> None:
    error = codec.parse_error(504, b'{"message": "gateway timeout"}')
    assert isinstance(error, UpstreamTimeout) and error.retryable


def test_too_many_tokens_reads_as_a_context_window_error() -> None:
    body = b'{"message": "too many tokens: total number of tokens in the prompt cannot exceed 4081 - received 4292"}'
    assert codec.parse_error(400, body).context_window_exceeded


def test_non_json_body_is_kept_short() -> None:
    error = codec.parse_error(502, b"<html>bad gateway</html>" + b"x" * 2000)
    assert error.status == 502 and "bad gateway" in error.message and len(error.message) < 600
    assert "HTTP 500" in codec.parse_error(500, b"").message
