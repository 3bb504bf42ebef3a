"""OpenTelemetry traces, on when an OTLP endpoint is configured
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; the other
standard ``OTEL_*`` variables apply as usual: ``OTEL_SERVICE_NAME``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``, ``OTEL_PROPAGATORS``...).

One SERVER span per request, following the GenAI semantic conventions
(``gen_ai.operation.name``, ``gen_ai.provider.name``, ``gen_ai.request.*``,
``gen_ai.response.*``, ``gen_ai.usage.*``), its parent taken from the client's W3C
``traceparent``; one CLIENT span per upstream attempt, whose context goes upstream in
``traceparent`` (an httpx request hook on the pooled client). Spans are exported over
OTLP/HTTP (protobuf) in batches, off the request path.

Every attribute, span name and status message goes through the redaction
(``telemetry.redaction.redact_exported``: configured secrets, key-looking tokens, and the
credentials a URL carries), so ``url.full`` of a base URL with ``user:SECRET@`` or
``?api-key=SECRET`` is exported masked.

Off (``ENABLED`` false), the SDK is never imported and the request path pays one flag
check. Tracing never fails a request: errors here are logged and swallowed.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit

from gateway.providers import kinds

if TYPE_CHECKING:
    from gateway.base.entries import DeploymentEntry
    from gateway.policy.routing import Attempt
    from gateway.providers.base import Exchange, Provider
    from gateway.types import ChatRequest


class TracedRecord(Protocol):
    """What tracing reads of a request's journal record (``journal.Record``: the journal
    sits above telemetry, so the record too is named by its shape)."""

    status: int
    error_kind: str
    error_message: str
    attempts: list[Attempt]
    route: str
    key_name: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    finish_reason: str
    ttft_ms: float | None
    cache_hit: bool


class TracedCall(Protocol):
    """What tracing reads and sets on a request's ``service.Call`` (named by its shape,
    so that tracing, which the service and the HTTP client use, imports neither)."""

    endpoint: str
    dialect: str
    caller: Any  # service.Caller: its request_id
    deployment: DeploymentEntry | None
    exchange: Exchange | None
    span: Any
    attempt_spans: list[tuple[Any, Exchange | None]]  # (span, the attempt's exchange)

    @property
    def record(self) -> TracedRecord: ...  # read only: a Call's journal.Record fits


log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
OPERATIONS = {
    "chat": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "count_tokens": "count_tokens",
    "input_tokens": "count_tokens",
}


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for trace export."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in ENDPOINT_VARIABLES)


ENABLED: bool = configured()

_tracer: Any = None
_attempt: contextvars.ContextVar[Any] = contextvars.ContextVar("switchyard_attempt", default=None)


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _guarded(fn: Callable[_P, _R]) -> Callable[_P, _R | None]:
    """Tracing must never fail a request."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R | None:
        try:
            return fn(*args, **kwargs)
        except Exception:
            log.exception("tracing: %s failed", fn.__name__)
            return None

    return wrapper


def use_provider(provider: Any) -> None:
    """Trace through ``provider`` (tests: an in-memory exporter); None: build the
    OTLP one again on next use."""
    global _tracer
    _tracer = provider.get_tracer("switchyard") if provider is not None else None


def tracer() -> Any:
    """The process's tracer, built on first use (each worker process its own)."""
    global _tracer, ENABLED
    if _tracer is None:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            ENABLED = False
            log.error(
                "tracing: %s is set but OpenTelemetry is not installed (%s); install "
                "switchyard[otel]. Traces are off.",
                " or ".join(ENDPOINT_VARIABLES),
                exc,
            )
            raise
        attributes = {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "switchyard"}
        provider = TracerProvider(resource=Resource.create(attributes))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _tracer = provider.get_tracer("switchyard")
    return _tracer


def _secrets() -> list[str]:
    from gateway.telemetry.redaction import configured_secrets

    try:
        return configured_secrets()
    except Exception:  # no registry yet: the patterns still apply
        return []


def _redacted(value: Any, secrets: list[str]) -> Any:
    from gateway.telemetry.redaction import redact_exported

    if isinstance(value, str):
        return redact_exported(value, secrets)
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


def _safe(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` as they may be exported: every string redacted."""
    secrets = _secrets()
    return {name: _redacted(value, secrets) for name, value in attributes.items()}


def _safe_text(text: str) -> str:
    safe: str = _redacted(text, _secrets())
    return safe


# --- the request span ----------------------------------------------------------------------


@_guarded
def start_request(call: TracedCall, headers: Mapping[str, str]) -> Any:
    """A SERVER span for ``call``, child of the client's ``traceparent`` if it sent one."""
    from opentelemetry import propagate
    from opentelemetry.trace import SpanKind

    operation = OPERATIONS.get(call.endpoint, call.endpoint)
    span = tracer().start_span(
        operation,
        context=propagate.extract(dict(headers)),
        kind=SpanKind.SERVER,
        attributes=_safe(
            {
                "gen_ai.operation.name": operation,
                "http.request.method": "POST",
                "switchyard.dialect": call.dialect,
                "switchyard.request_id": call.caller.request_id,
            }
        ),
    )
    call.attempt_spans = []
    return span


@_guarded
def describe_request(call: TracedCall, request: ChatRequest) -> None:
    """The GenAI request attributes, once the body is parsed."""
    span = call.span
    span.update_name(_safe_text(f"{OPERATIONS.get(call.endpoint, call.endpoint)} {request.model}"))
    values = {
        "gen_ai.request.model": request.model,
        "gen_ai.request.max_tokens": request.max_tokens,
        "gen_ai.request.temperature": request.temperature,
        "gen_ai.request.top_p": request.top_p,
        "gen_ai.request.top_k": request.top_k,
        "gen_ai.request.stop_sequences": list(request.stop) or None,
        "gen_ai.request.choice.count": request.n if request.n not in (None, 1) else None,
        "switchyard.stream": request.stream,
    }
    span.set_attributes(_safe({k: v for k, v in values.items() if v is not None}))


@_guarded
def end_request(call: TracedCall) -> None:
    """Close the last attempt's span and the request's, with the journal record's facts."""
    from opentelemetry.trace import Status, StatusCode

    _end_attempt(call, final=True)
    rec, span = call.record, call.span
    attributes: dict[str, Any] = {
        "http.response.status_code": rec.status,
        "switchyard.attempts": len(rec.attempts),
        "switchyard.cache_hit": rec.cache_hit,
    }
    if rec.route:
        attributes["switchyard.route"] = rec.route
        if call.endpoint != "chat":  # chat requests described it from the parsed body
            attributes["gen_ai.request.model"] = rec.route
    if rec.key_name:
        attributes["switchyard.key"] = rec.key_name
    if call.deployment is not None:
        provider = _provider_name(call.deployment)
        attributes["gen_ai.provider.name"] = provider
        attributes["gen_ai.system"] = provider  # the name older backends read
        attributes["gen_ai.response.model"] = call.deployment.model
        attributes["switchyard.deployment"] = call.deployment.label
    if rec.status < 400:
        prompt = rec.input_tokens + rec.cache_read_tokens + rec.cache_write_tokens
        attributes["gen_ai.usage.input_tokens"] = prompt
        attributes["gen_ai.usage.output_tokens"] = rec.output_tokens
        if rec.cache_read_tokens:
            attributes["gen_ai.usage.cache_read.input_tokens"] = rec.cache_read_tokens
    if rec.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = [rec.finish_reason]
    if rec.ttft_ms is not None:
        attributes["switchyard.ttft_ms"] = rec.ttft_ms
    if rec.status >= 400:
        attributes["error.type"] = rec.error_kind or str(rec.status)
    span.set_attributes(_safe(attributes))
    if rec.status >= 500:
        span.set_status(Status(StatusCode.ERROR, _safe_text(rec.error_message or "")[:200]))
    span.end()


# --- one span per upstream attempt ---------------------------------------------------------


def _provider_name(deployment: DeploymentEntry) -> str:
    """``gen_ai.provider.name``: the ``trace_name`` the deployment's kind declares."""
    adapter: type[Provider] | None = kinds.adapter_class(deployment.provider.kind)
    return deployment.provider.kind if adapter is None else adapter.trace_name


@_guarded
def start_attempt(call: TracedCall) -> None:
    """A CLIENT span for the attempt ``call`` is about to make (the one before it
    ends here); its context is what ``inject`` puts on the upstream request."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind

    _end_attempt(call, final=False)
    deployment = call.deployment
    assert deployment is not None  # the service sets it before it starts an attempt
    provider = _provider_name(deployment)
    operation = OPERATIONS.get(call.endpoint, call.endpoint)
    span = tracer().start_span(
        _safe_text(f"{operation} {deployment.model}"),
        context=trace.set_span_in_context(call.span),
        kind=SpanKind.CLIENT,
        attributes=_safe(
            {
                "gen_ai.operation.name": operation,
                "gen_ai.provider.name": provider,
                "gen_ai.system": provider,
                "gen_ai.request.model": deployment.model,
                "http.request.method": "POST",
                "switchyard.deployment": deployment.label,
            }
        ),
    )
    call.attempt_spans.append((span, call.exchange))
    _attempt.set(span)


@_guarded
def tool_call(call: TracedCall, note: Mapping[str, Any]) -> None:
    """An INTERNAL span for a hosted MCP tool call that just ended (gateway/features/mcp/hosted),
    under the request's span: server, tool, status, its duration, an error's text."""
    import time as _time

    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    end = _time.time_ns()
    start = end - int(float(note.get("duration_ms") or 0) * 1_000_000)
    span = tracer().start_span(
        _safe_text(f"execute_tool {note.get('tool', '')}"),
        context=trace.set_span_in_context(call.span),
        kind=SpanKind.INTERNAL,
        start_time=start,
        attributes=_safe(
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": str(note.get("tool", "")),
                "switchyard.mcp.server": str(note.get("server", "")),
                "switchyard.mcp.status": str(note.get("status", "")),
            }
        ),
    )
    if note.get("error"):
        span.set_status(Status(StatusCode.ERROR, _safe_text(str(note["error"]))))
    span.end(end_time=end)


def _end_attempt(call: TracedCall, final: bool) -> None:
    from opentelemetry.trace import Status, StatusCode

    spans = call.attempt_spans
    if not spans or spans[-1][0] is None:
        return
    span, exchange = spans[-1]
    spans[-1] = (None, exchange)
    index = len(spans) - 1
    attempts = call.record.attempts
    if exchange is not None and exchange.url:
        parts = urlsplit(exchange.url)
        span.set_attributes(
            _safe(
                {"url.full": exchange.url, "server.address": parts.hostname or ""}
                | ({"server.port": parts.port} if parts.port else {})
            )
        )
    if index < len(attempts):
        status, error = attempts[index].status, attempts[index].error
    elif final and call.record.status:
        status, error = call.record.status, call.record.error_message
    else:
        status, error = 0, "ended before the upstream answered"
    if status:
        span.set_attribute("http.response.status_code", status)
    if not status or status >= 400:
        span.set_attribute("error.type", str(status) if status else "no_response")
        span.set_status(Status(StatusCode.ERROR, _safe_text(error or "")[:200]))
    usage = exchange.usage if exchange is not None else None
    if final and usage is not None and usage.total_tokens and index < len(attempts):
        span.set_attributes(
            {
                "gen_ai.usage.input_tokens": usage.prompt_tokens,
                "gen_ai.usage.output_tokens": usage.output_tokens,
            }
        )
    span.end()
    _attempt.set(None)


# --- propagation to the upstream -----------------------------------------------------------


async def inject(request: Any) -> None:
    """httpx request hook: the current attempt's ``traceparent`` on the upstream request."""
    span = _attempt.get()
    if span is None:
        return
    try:
        from opentelemetry import propagate, trace

        propagate.inject(request.headers, context=trace.set_span_in_context(span))
    except Exception:
        log.exception("tracing: could not propagate the trace context upstream")


def client_hooks() -> dict[str, list[Callable[[Any], Awaitable[None]]]]:
    """Event hooks for the pooled upstream client (none when tracing is off)."""
    return {"request": [inject]} if ENABLED else {}
