"""The gateway's exception tree. Every error knows its HTTP status and its kind;
each inbound dialect renders it in its own shape (see ``protocols``)::

    GatewayError                      500 api_error
    ├── InvalidRequest                400 invalid_request_error   (param names the field)
    │   ├── RequestTooLarge           413 request_too_large
    │   └── HeadersTooLarge           431 invalid_request_error   (too many or too big)
    ├── AuthenticationFailed          401 authentication_error
    ├── PermissionDenied              403 permission_error
    ├── ModelNotFound                 404 not_found_error
    ├── RateLimited                   429 rate_limit_error        (retry_after seconds;
    │                                                               code budget_exceeded for
    │                                                               a budget refusal)
    ├── NoHealthyDeployment           503 overloaded_error        (every deployment at its cap)
    ├── ConfigurationError            500 api_error               (a deployment cannot be called)
    │   └── MissingSecret             500 api_error               (unset os.environ/NAME)
    ├── ShuttingDown                  503 overloaded_error        (this instance is stopping)
    ├── GuardrailBlocked              400 invalid_request_error   (a guardrail refused it)
    ├── GuardrailUnavailable          503 api_error               (a fail-closed check failed)
    └── UpstreamError                 upstream status passed on, or 502
        ├── UpstreamTimeout           504 timeout_error
        ├── UpstreamConnectionError   502 api_error
        ├── UpstreamOverloaded        529 overloaded_error
        └── UpstreamRejected          502 api_error               (upstream 401/403/404)

``kind`` is the canonical kind; protocols map it to their own ``error.type``. A budget
refusal keeps 429 and ``rate_limit_error`` (the SDKs' retry and error classes hang on
them) but carries ``code="budget_exceeded"`` (``BUDGET_EXCEEDED``): in the body where the
dialect has a place for it, and as its own ``outcome`` in the journal, so the log list
tells a spent budget from a rate limit. Messages
must never carry secrets: upstream bodies are passed on as the upstream wrote them,
and upstream bodies never contain our provider secret. ``detail`` holds what only the
operator may see (an upstream's URL, the transport's own message): it goes to the
server log and the journal, never to the caller.
"""

from __future__ import annotations

from typing import Any

BUDGET_EXCEEDED = "budget_exceeded"
# codes journaled as their own outcome (``GatewayError.outcome``) instead of the kind
OWN_OUTCOMES = frozenset({BUDGET_EXCEEDED})


class GatewayError(Exception):
    status: int = 500
    kind: str = "api_error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        kind: str | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if status is not None:
            self.status = status
        if kind is not None:
            self.kind = kind
        self.param = param
        self.code = code
        self.retry_after = retry_after

    @property
    def retryable(self) -> bool:
        """Whether routing may try another attempt after this error."""
        return False

    @property
    def outcome(self) -> str:
        """What the journal records (``error_kind``): the kind, or a code of its own
        (``budget_exceeded``: a budget refusal, not a rate limit)."""
        return self.code if self.code in OWN_OUTCOMES else self.kind

    @property
    def log_message(self) -> str:
        """The message for the server log and the journal (the detail when there is one)."""
        return self.detail or self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.status}, {self.kind!r}, {self.message!r})"


class InvalidRequest(GatewayError):
    status = 400
    kind = "invalid_request_error"


class SnapshotMiss(Exception):
    """A request names something this process's registry snapshot lacks, perhaps
    created a moment ago in another process: raised by a request rewrite
    (``hooks.request_bodies``) before it changes the body. The service checks the
    stored registry once, runs the rewrite again and answers ``refusal`` if it still
    misses, as it does for an unknown key or model."""

    def __init__(self, refusal: GatewayError) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


class RequestTooLarge(InvalidRequest):
    status = 413
    kind = "request_too_large"


class HeadersTooLarge(InvalidRequest):
    status = 431


class AuthenticationFailed(GatewayError):
    status = 401
    kind = "authentication_error"


class PermissionDenied(GatewayError):
    status = 403
    kind = "permission_error"


class ModelNotFound(GatewayError):
    status = 404
    kind = "not_found_error"


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limit_error"


class NoHealthyDeployment(GatewayError):
    status = 503
    kind = "overloaded_error"


class ConfigurationError(GatewayError):
    """A deployment cannot be called as configured (an unset ``os.environ/NAME``, a
    provider that cannot be built). Routing never retries or cools it down, makes no
    outbound connection and moves on to siblings and fallbacks; alone, it is a 500 (the
    gateway's own configuration is at fault) naming the deployment, never a secret."""

    status = 500
    kind = "api_error"


class MissingSecret(ConfigurationError):
    """An ``os.environ/NAME`` reference (secret, header, base URL) whose variable is
    not set; ``gateway.base.secrets.secret_refs.resolve_secret`` raises it at call time."""


class GuardrailBlocked(GatewayError):
    """A guardrail refused the request or its answer (``gateway.features.guardrails``): the
    message names the guardrail and, where it is safe, the entity or the reason, never
    the offending text. ``usage``: what the upstream had already used (a post-call
    block), so the journal and the budget still count it."""

    status = 400
    kind = "invalid_request_error"

    def __init__(self, message: str, *, guardrail: str, usage: Any = None, **kwargs: Any) -> None:
        kwargs.setdefault("code", "guardrail_blocked")
        super().__init__(message, **kwargs)
        self.guardrail = guardrail
        self.usage = usage


class GuardrailUnavailable(GatewayError):
    """A guardrail that fails closed could not decide (its service down, a 5xx, slower
    than its timeout, a kind that failed): the request is refused rather than let
    through unchecked. The caller's SDK may retry (503)."""

    status = 503
    kind = "api_error"

    def __init__(self, message: str, *, guardrail: str, **kwargs: Any) -> None:
        kwargs.setdefault("code", "guardrail_unavailable")
        super().__init__(message, **kwargs)
        self.guardrail = guardrail


class ShuttingDown(GatewayError):
    """This instance stopped taking requests (SIGTERM); the SDKs retry a 503, and behind a
    load balancer the retry lands on another instance."""

    status = 503
    kind = "overloaded_error"


class UpstreamError(GatewayError):
    """The upstream answered with an error (status passed on) or could not be reached.
    When only a status is given, ``kind`` follows it (429 -> rate_limit_error, ...)."""

    status = 502
    kind = "api_error"

    def __init__(self, message: str, *, status: int | None = None, **kwargs: Any) -> None:
        if status is not None and kwargs.get("kind") is None:
            kwargs["kind"] = KIND_FOR_STATUS.get(status, "api_error")
        super().__init__(message, status=status, **kwargs)

    @property
    def retryable(self) -> bool:
        return self.status in (408, 429) or self.status >= 500  # never other 4xx

    @property
    def context_window_exceeded(self) -> bool:
        text = self.message.lower()
        return self.status == 400 and any(
            marker in text
            for marker in (
                "context_length_exceeded",
                "context length",
                "context window",
                "prompt is too long",
                "maximum context",
                "too many tokens",
            )
        )


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = "timeout_error"


class UpstreamConnectionError(UpstreamError):
    status = 502
    kind = "api_error"


class UpstreamOverloaded(UpstreamError):
    status = 529
    kind = "overloaded_error"


class UpstreamAnswerTooLarge(UpstreamError):
    """The upstream's answer was longer than ``SWITCHYARD_MAX_ANSWER_BYTES``: not read
    further, not retried (another attempt would likely be as long)."""

    status = 502
    kind = "api_error"

    @property
    def retryable(self) -> bool:
        return False


class UpstreamRejected(UpstreamError):
    """The upstream refused the gateway itself (401/403: its credentials are wrong; 404:
    the model does not exist there) and no other deployment was left. A 502: the caller
    must not mistake it for a problem with its own key."""

    status = 502
    kind = "api_error"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, status=502, kind="api_error", **kwargs)

    @property
    def retryable(self) -> bool:
        return False


KIND_FOR_STATUS: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    409: "invalid_request_error",
    408: "timeout_error",
    413: "request_too_large",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}
