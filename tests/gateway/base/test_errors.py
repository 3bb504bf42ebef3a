"""The gateway's exception tree (``gateway.base.errors``): each error's status and kind,
overridable per instance; a budget refusal journaled as its own outcome; the operator's
detail kept for the log; an upstream's status choosing its kind and whether routing may
retry; a context window overflow recognised in the upstream's words."""

from __future__ import annotations

import pytest

from gateway.base import errors
from gateway.base.errors import (
    BUDGET_EXCEEDED,
    GatewayError,
    GuardrailBlocked,
    GuardrailUnavailable,
    HeadersTooLarge,
    MissingSecret,
    RateLimited,
    RequestTooLarge,
    UpstreamAnswerTooLarge,
    UpstreamError,
    UpstreamOverloaded,
    UpstreamRejected,
    UpstreamTimeout,
)


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (GatewayError, 500, "api_error"),
        (RequestTooLarge, 413, "request_too_large"),
        (HeadersTooLarge, 431, "invalid_request_error"),
        (errors.AuthenticationFailed, 401, "authentication_error"),
        (errors.PermissionDenied, 403, "permission_error"),
        (errors.ModelNotFound, 404, "not_found_error"),
        (RateLimited, 429, "rate_limit_error"),
        (errors.NoHealthyDeployment, 503, "overloaded_error"),
        (MissingSecret, 500, "api_error"),
        (errors.ShuttingDown, 503, "overloaded_error"),
        (UpstreamTimeout, 504, "timeout_error"),
        (UpstreamOverloaded, 529, "overloaded_error"),
    ],
)
def test_each_error_has_its_status_and_kind(
    error: type[GatewayError], status: int, kind: str
) -> None:
    made = error("m")
    assert (made.status, made.kind, made.message, str(made)) == (status, kind, "m", "m")


def test_an_instance_may_override_status_and_kind_and_carries_its_fields() -> None:
    made = GatewayError("m", status=418, kind="teapot", param="model", retry_after=2.5)
    assert (made.status, made.kind, made.param, made.retry_after) == (418, "teapot", "model", 2.5)
    assert GatewayError("m").status == 500  # the class default untouched
    assert repr(made) == "GatewayError(418, 'teapot', 'm')"
    assert not made.retryable


def test_a_budget_refusal_is_its_own_outcome_and_a_rate_limit_its_kind() -> None:
    assert RateLimited("over", code=BUDGET_EXCEEDED).outcome == "budget_exceeded"
    assert RateLimited("slow down", code="other").outcome == "rate_limit_error"


def test_the_operators_detail_goes_to_the_log_and_the_message_to_the_caller() -> None:
    made = UpstreamError("upstream unreachable", detail="connect to 10.0.0.3:443 refused")
    assert made.log_message == "connect to 10.0.0.3:443 refused"
    assert UpstreamError("upstream unreachable").log_message == "upstream unreachable"


def test_an_upstreams_status_chooses_its_kind_and_whether_to_retry() -> None:
    assert UpstreamError("x", status=429).kind == "rate_limit_error"
    assert UpstreamError("x", status=418).kind == "api_error"
    assert UpstreamError("x", status=429, kind="mine").kind == "mine"
    assert UpstreamError("x").status == 502
    retried = {s: UpstreamError("x", status=s).retryable for s in (400, 404, 408, 429, 500, 503)}
    assert retried == {400: False, 404: False, 408: True, 429: True, 500: True, 503: True}
    assert not UpstreamAnswerTooLarge("long").retryable
    rejected = UpstreamRejected("bad upstream key")
    assert (rejected.status, rejected.kind, rejected.retryable) == (502, "api_error", False)


@pytest.mark.parametrize(
    "text", ["This model's maximum context length is 8192", "prompt is too long: 300000 tokens"]
)
def test_a_context_window_overflow_is_recognised(text: str) -> None:
    assert UpstreamError(text, status=400).context_window_exceeded
    assert not UpstreamError(text, status=500).context_window_exceeded
    assert not UpstreamError("bad temperature", status=400).context_window_exceeded


def test_guardrail_errors_name_their_guardrail_and_default_their_code() -> None:
    blocked = GuardrailBlocked("blocked by pii", guardrail="pii", usage={"input_tokens": 3})
    assert (blocked.status, blocked.code, blocked.guardrail) == (400, "guardrail_blocked", "pii")
    assert blocked.usage == {"input_tokens": 3}
    assert GuardrailBlocked("x", guardrail="g", code="own").code == "own"
    down = GuardrailUnavailable("judge down", guardrail="judge")
    assert (down.status, down.code, down.guardrail) == (503, "guardrail_unavailable", "judge")
