"""OpenTelemetry traces (and, with ``genai_metrics``, metrics) in the GenAI semantic
conventions (``telemetry.semconv`` names each attribute and its source), on when an OTLP
endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``; the other standard ``OTEL_*`` variables apply as
usual: ``OTEL_SERVICE_NAME``, ``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_BSP_*``,
``OTEL_PROPAGATORS``...).

One SERVER span per request, its parent taken from the client's W3C ``traceparent``;
one CLIENT span per upstream attempt (the conventions' ``gen_ai.client.inference`` span,
named ``{gen_ai.operation.name} {gen_ai.request.model}``), whose context goes upstream
in ``traceparent`` (an httpx request hook on the pooled client). Both carry
``gen_ai.operation.name``, ``gen_ai.provider.name`` (never the deprecated
``gen_ai.system``), ``gen_ai.request.model``, ``gen_ai.response.model`` and ``.id``,
``gen_ai.response.finish_reasons``, ``gen_ai.usage.input_tokens`` / ``output_tokens`` and
their cache-read, cache-write and reasoning parts, ``error.type``; the attempt its
upstream's ``server.address`` / ``server.port``. A tool a hosted MCP loop ran is an
``execute_tool {tool}`` span with the MCP attributes; an MCP or A2A operation a feature
serves is a span of its protocol's conventions through ``start_operation`` (the public
hook: ``/mcp`` tool calls, the A2A feature). Spans are exported over OTLP/HTTP
(protobuf) in batches, off the request path; the metrics as each span ends
(``genai_metrics``).

Every attribute, span name and status message goes through the redaction
(``telemetry.redaction.redact_exported``: configured secrets, key-looking tokens, and the
credentials a URL carries), so ``url.full`` of a base URL with ``user:SECRET@`` or
``?api-key=SECRET`` is exported masked. Prompts, answers and tool arguments are never
exported.

Off (``ENABLED`` false: neither traces nor metrics configured), the SDK is never
imported and the request path pays one flag check. With metrics and no traces, spans
are the API's no-op ones. Tracing never fails a request: errors here are logged and
swallowed.
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, Protocol, TypeVar
from urllib.parse import urlsplit

from gateway.base.types import Usage
from gateway.providers import kinds
from gateway.telemetry import genai_metrics
from gateway.telemetry import semconv as sc
from gateway.telemetry.redaction import configured_secrets, redact_exported

if TYPE_CHECKING:
    from gateway.base.entries import DeploymentEntry
    from gateway.base.types import ChatRequest, Usage
    from gateway.providers.base import Exchange, Provider
    from gateway.routing.attempts import Attempt


class TracedRecord(Protocol):
    """What tracing reads of a request's journal record (``journal.Record``: the journal
    sits above telemetry, so the record too is named by its shape)."""

    status: int
    stream: bool
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
    latency_ms: float
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
    attempt_spans: list[AttemptTrace]  # the request's upstream attempts, in order
    response_id: str  # the upstream's id of its answer, when the pipeline saw it
    response_model: str  # the model the upstream says answered

    @property
    def record(self) -> TracedRecord: ...  # read only: a Call's journal.Record fits


log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
OPERATIONS = {  # gen_ai.operation.name of each endpoint (its own name where none fits)
    "chat": "chat",
    "completions": "text_completion",
    "embeddings": "embeddings",
    "count_tokens": "count_tokens",
    "input_tokens": "count_tokens",
}
INFERENCE = frozenset({"chat", "text_completion", "embeddings"})  # token metrics apply


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for trace export."""
    return genai_metrics.exporting("OTEL_TRACES_EXPORTER", ENDPOINT_VARIABLES, environ)


TRACES: bool = configured()
ENABLED: bool = TRACES or genai_metrics.ENABLED  # the request path's one check

_tracer: Any = None
_provider: Any = None
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
    global _tracer, _provider
    _provider = provider
    _tracer = provider.get_tracer("switchyard") if provider is not None else None


def tracer() -> Any:
    """The process's tracer, built on first use (each worker process its own): the SDK's
    with the OTLP exporter when traces are configured, else the API's no-op one (metrics
    only: the spans carry what the metrics read and go nowhere)."""
    global _tracer, _provider, ENABLED
    if _tracer is None:
        try:
            # the SDK is imported only once OpenTelemetry is on (an optional extra)
            from opentelemetry import trace
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            ENABLED = False
            log.error(
                "tracing: %s is set but OpenTelemetry is not installed (%s); install "
                "switchyard[otel]. Traces and metrics are off.",
                " or ".join(ENDPOINT_VARIABLES),
                exc,
            )
            raise
        if not TRACES:
            _tracer = trace.NoOpTracer()
            return _tracer
        resource = Resource.create(genai_metrics.resource_attributes())
        _provider = TracerProvider(resource=resource)
        _provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
        _tracer = _provider.get_tracer("switchyard")
    return _tracer


def flush(timeout_millis: int = 10_000) -> bool:
    """Export the spans and metrics recorded so far (shutdown, tests)."""
    done = True
    provider = _provider
    if provider is not None and hasattr(provider, "force_flush"):
        try:
            done = bool(provider.force_flush(timeout_millis))
        except Exception:
            log.exception("tracing: flush failed")
            done = False
    return genai_metrics.flush(timeout_millis) and done


def _secrets() -> list[str]:

    try:
        return configured_secrets()
    except Exception:  # no registry yet: the patterns still apply
        return []


def _redacted(value: Any, secrets: list[str]) -> Any:

    if isinstance(value, str):
        return redact_exported(value, secrets)
    if isinstance(value, list | tuple):
        return [_redacted(item, secrets) for item in value]
    return value


def _safe(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """``attributes`` as they may be exported: every string redacted, empty ones left out."""
    secrets = _secrets()
    return {
        name: _redacted(value, secrets)
        for name, value in attributes.items()
        if value is not None and value != ""
    }


def _safe_text(text: str) -> str:
    safe: str = _redacted(text, _secrets())
    return safe


def _usage_attributes(usage: Usage) -> dict[str, Any]:
    """The ``gen_ai.usage.*`` attributes of ``usage``: input counts every input token,
    cached ones included; the cache and reasoning parts only when there are some."""
    out: dict[str, Any] = {
        sc.USAGE_INPUT: usage.prompt_tokens,
        sc.USAGE_OUTPUT: usage.output_tokens,
    }
    for name, value in (
        (sc.USAGE_CACHE_READ, usage.cache_read_tokens),
        (sc.USAGE_CACHE_WRITE, usage.cache_write_tokens),
        (sc.USAGE_REASONING, usage.reasoning_tokens),
    ):
        if value:
            out[name] = value
    return out


def _address(url: str) -> tuple[str, int | None]:
    """``server.address`` and ``server.port`` of ``url`` (the scheme's port when the URL
    names none: the port is required wherever the address is given)."""
    parts = urlsplit(url)
    port = parts.port or {"https": 443, "http": 80}.get(parts.scheme)
    return parts.hostname or "", port


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
                sc.OPERATION: operation,
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
        sc.REQUEST_MODEL: request.model,
        sc.REQUEST_MAX_TOKENS: request.max_tokens,
        sc.REQUEST_TEMPERATURE: request.temperature,
        sc.REQUEST_TOP_P: request.top_p,
        sc.REQUEST_TOP_K: request.top_k,
        sc.REQUEST_STOP: list(request.stop) or None,
        sc.REQUEST_CHOICES: request.n if request.n not in (None, 1) else None,
        sc.REQUEST_STREAM: True if request.stream else None,
    }
    span.set_attributes(_safe(values))


def _finish_reasons(call: TracedCall, operation: str, answered: bool) -> list[str] | None:
    """The answer's finish reason; ``error`` where one was expected and never came (a
    stream cut after the upstream began answering), as the conventions ask."""
    rec = call.record
    if rec.finish_reason:
        return [rec.finish_reason]
    if answered and operation in ("chat", "text_completion") and rec.status >= 400:
        return [sc.FINISH_ERROR]
    return None


@_guarded
def end_request(call: TracedCall, usage: Usage | None = None) -> None:
    """Close the last attempt's span and the request's, with the journal record's facts
    and ``usage`` (the whole request's: every attempt and hosted turn), and record the
    server metrics."""
    from opentelemetry.trace import Status, StatusCode

    answered = _end_attempt(call, final=True)
    rec, span = call.record, call.span
    operation = OPERATIONS.get(call.endpoint, call.endpoint)
    attributes: dict[str, Any] = {
        "http.response.status_code": rec.status,
        "switchyard.attempts": len(rec.attempts),
        "switchyard.cache_hit": rec.cache_hit,
        "switchyard.key": rec.key_name,
        sc.RESPONSE_ID: call.response_id,
        sc.FINISH_REASONS: _finish_reasons(call, operation, answered),
    }
    if rec.route:
        attributes["switchyard.route"] = rec.route
        if call.endpoint != "chat":  # chat requests described it from the parsed body
            attributes[sc.REQUEST_MODEL] = rec.route
    provider = ""
    if call.deployment is not None:
        provider = _provider_name(call.deployment)
        attributes[sc.PROVIDER] = provider
        attributes[sc.RESPONSE_MODEL] = call.response_model or call.deployment.model
        attributes["switchyard.deployment"] = call.deployment.label
    if rec.status < 400 and operation in INFERENCE:
        attributes.update(_usage_attributes(usage if usage is not None else _recorded(rec)))
    if rec.stream and rec.ttft_ms is not None:
        attributes[sc.TIME_TO_FIRST_CHUNK] = rec.ttft_ms / 1000
    if rec.status >= 400:
        attributes[sc.ERROR_TYPE] = rec.error_kind or str(rec.status)
    span.set_attributes(_safe(attributes))
    if rec.status >= 500:
        span.set_status(Status(StatusCode.ERROR, _safe_text(rec.error_message or "")[:200]))
    span.end()
    if genai_metrics.ENABLED and provider and operation in INFERENCE:
        _server_metrics(rec, operation, provider, attributes)


def _recorded(rec: TracedRecord) -> Usage:

    return Usage(rec.input_tokens, rec.output_tokens, rec.cache_read_tokens, rec.cache_write_tokens)


def _server_metrics(
    rec: TracedRecord, operation: str, provider: str, attributes: Mapping[str, Any]
) -> None:
    """The request as Switchyard served it: its duration (every attempt and the time
    between them) and, for a successful stream, the caller's time to the first token."""
    labels = {
        sc.OPERATION: operation,
        sc.PROVIDER: provider,
        sc.REQUEST_MODEL: rec.route or attributes.get(sc.REQUEST_MODEL),
        sc.RESPONSE_MODEL: attributes.get(sc.RESPONSE_MODEL),
        sc.ERROR_TYPE: attributes.get(sc.ERROR_TYPE),
    }
    genai_metrics.record(sc.SERVER_DURATION, rec.latency_ms / 1000, labels)
    if rec.stream and rec.status < 400 and rec.ttft_ms is not None:
        labels.pop(sc.ERROR_TYPE)
        genai_metrics.record(sc.SERVER_FIRST_TOKEN, rec.ttft_ms / 1000, labels)


@_guarded
def annotate(call: TracedCall, attributes: Mapping[str, Any]) -> None:
    """More attributes on the request's span and on its attempt's, if one is under way
    (an endpoint that is not a model call says what it did: a passthrough's method, path
    and provider), redacted as every exported attribute is."""
    safe = _safe(attributes)
    call.span.set_attributes(safe)
    if call.attempt_spans and call.attempt_spans[-1].span is not None:
        call.attempt_spans[-1].span.set_attributes(safe)


# --- one span per upstream attempt ---------------------------------------------------------


class AttemptTrace:
    """One upstream attempt's span, its exchange and what it was started with (the
    metrics of the attempt read them when it ends, after ``call.deployment`` may have
    moved on to the next attempt's)."""

    __slots__ = ("attributes", "exchange", "span")

    def __init__(self, span: Any, exchange: Exchange | None, attributes: dict[str, Any]) -> None:
        self.span, self.exchange, self.attributes = span, exchange, attributes


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
    operation = OPERATIONS.get(call.endpoint, call.endpoint)
    attributes = _safe(
        {
            sc.OPERATION: operation,
            sc.PROVIDER: _provider_name(deployment),
            sc.REQUEST_MODEL: deployment.model,
            sc.REQUEST_STREAM: True if call.record.stream else None,
        }
    )
    span = tracer().start_span(
        _safe_text(f"{operation} {deployment.model}"),
        context=trace.set_span_in_context(call.span),
        kind=SpanKind.CLIENT,
        attributes=attributes
        | {"http.request.method": "POST", "switchyard.deployment": deployment.label},
    )
    call.attempt_spans.append(AttemptTrace(span, call.exchange, attributes))
    _attempt.set(span)


def _end_attempt(call: TracedCall, final: bool) -> bool:
    """End the attempt under way (if any) with its outcome; its client metrics. True
    when it answered (a 2xx from its upstream)."""
    from opentelemetry.trace import Status, StatusCode

    traces = call.attempt_spans
    if not traces or traces[-1].span is None:
        return False
    trace_ = traces[-1]
    span, exchange, base = trace_.span, trace_.exchange, dict(trace_.attributes)
    trace_.span = None
    index = len(traces) - 1
    rec = call.record
    attempts = rec.attempts
    if exchange is not None and exchange.url:
        address, port = _address(exchange.url)
        base[sc.SERVER_ADDRESS], base[sc.SERVER_PORT] = address, port
        span.set_attributes(_safe({"url.full": exchange.url}))
    if index < len(attempts):
        status, error = attempts[index].status, attempts[index].error
        seconds: float | None = attempts[index].duration_ms / 1000
    elif final and rec.status:
        status, error = rec.status, rec.error_message
        seconds = None
    else:
        status, error, seconds = 0, "ended before the upstream answered", None
    if seconds is None and exchange is not None and exchange.started:
        seconds = (exchange.upstream_ms or 0.0) / 1000
    answered = 200 <= status < 400
    attributes = dict(base)
    if status:
        attributes["http.response.status_code"] = status
    if not answered:
        attributes[sc.ERROR_TYPE] = str(status) if status else "no_response"
        span.set_status(Status(StatusCode.ERROR, _safe_text(error or "")[:200]))
    usage = exchange.usage if exchange is not None and answered else None
    operation = base.get(sc.OPERATION, "")
    if usage is not None and operation in INFERENCE:
        attributes.update(_usage_attributes(usage))
    first_chunk: float | None = None
    if rec.stream and answered and exchange is not None and exchange.first_byte:
        first_chunk = exchange.first_byte - exchange.started
        attributes[sc.TIME_TO_FIRST_CHUNK] = first_chunk
    if final and answered:
        attributes[sc.RESPONSE_ID] = call.response_id
        attributes[sc.RESPONSE_MODEL] = call.response_model
        attributes[sc.FINISH_REASONS] = _finish_reasons(call, operation, answered)
    span.set_attributes(_safe(attributes))
    span.end()
    _attempt.set(None)
    if genai_metrics.ENABLED and operation in INFERENCE:
        labels = {k: attributes.get(k) for k in _INFERENCE_LABELS}
        _inference_metrics(labels, seconds, first_chunk, usage)
    return answered


_INFERENCE_LABELS = (
    sc.OPERATION,
    sc.PROVIDER,
    sc.REQUEST_MODEL,
    sc.RESPONSE_MODEL,
    sc.SERVER_ADDRESS,
    sc.SERVER_PORT,
    sc.ERROR_TYPE,
)


def _inference_metrics(
    labels: dict[str, Any], seconds: float | None, first_chunk: float | None, usage: Usage | None
) -> None:
    """One client inference operation's metrics: its duration; a stream's first chunk;
    the usage counters for every attempt (0 and modality ``unknown`` for one that failed:
    no upstream here breaks tokens down by modality) and the per-operation token
    histograms for one that answered."""
    if seconds is not None:
        genai_metrics.record(sc.INFERENCE_DURATION, seconds, labels)
    counted = labels | {sc.TOKEN_MODALITY: sc.UNKNOWN_MODALITY}
    counts = (
        (sc.USAGE_INPUT_TOKENS, usage.prompt_tokens if usage else 0),
        (sc.USAGE_OUTPUT_TOKENS, usage.output_tokens if usage else 0),
        (sc.USAGE_CACHE_READ_TOKENS, usage.cache_read_tokens if usage else 0),
        (sc.USAGE_CACHE_WRITE_TOKENS, usage.cache_write_tokens if usage else 0),
        (sc.USAGE_REASONING_TOKENS, usage.reasoning_tokens if usage else 0),
    )
    for metric, value in counts:
        genai_metrics.record(metric, value, counted)
    if usage is None:  # the histograms describe answered operations only
        return
    if first_chunk is not None:
        genai_metrics.record(sc.INFERENCE_FIRST_CHUNK, first_chunk, labels)
    genai_metrics.record(sc.OPERATION_INPUT_TOKENS, usage.prompt_tokens, labels)
    genai_metrics.record(sc.OPERATION_OUTPUT_TOKENS, usage.output_tokens, labels)


# --- tools a hosted MCP loop ran -----------------------------------------------------------

_TOOL_ERRORS = {"error": sc.TOOL_ERROR, "blocked": "blocked", "refused": "refused"}
_EXECUTED = frozenset({"ok", "error", "blocked"})  # (approval, declined, refused: never ran)


@_guarded
def tool_call(call: TracedCall, note: Mapping[str, Any]) -> None:
    """The ``execute_tool {tool}`` span of a tool a hosted MCP loop ran
    (gateway/features/mcp/hosted), under the request's span, ended when it was noted:
    an INTERNAL span with the MCP attributes on it (the MCP conventions: no second span
    where a GenAI tool span already covers the call), and its duration metric."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    end = time.time_ns()
    seconds = float(note.get("duration_ms") or 0) / 1000
    status = str(note.get("status", ""))
    tool = str(note.get("tool", ""))
    attributes = {
        sc.OPERATION: sc.EXECUTE_TOOL,
        sc.TOOL_NAME: tool,
        sc.TOOL_TYPE: sc.EXTENSION_TOOL,
        sc.MCP_METHOD: sc.TOOL_CALL,
        sc.ERROR_TYPE: _TOOL_ERRORS.get(status),
        "switchyard.mcp.server": str(note.get("server", "")),
        "switchyard.mcp.status": status,
    }
    span = tracer().start_span(
        _safe_text(f"{sc.EXECUTE_TOOL} {tool}"),
        context=trace.set_span_in_context(call.span),
        kind=SpanKind.INTERNAL,
        start_time=end - int(seconds * 1e9),
        attributes=_safe(attributes),
    )
    if note.get("error"):
        span.set_status(Status(StatusCode.ERROR, _safe_text(str(note["error"]))[:200]))
    span.end(end_time=end)
    if genai_metrics.ENABLED and status in _EXECUTED:
        labels = {k: attributes[k] for k in (sc.TOOL_NAME, sc.TOOL_TYPE, sc.ERROR_TYPE)}
        genai_metrics.record(sc.TOOL_DURATION, seconds, labels)


# --- protocol operations a feature serves (MCP, A2A): the public hook ---------------------

WireProtocol = Literal["mcp", "a2a"]
_METRIC_LABELS = (
    sc.MCP_METHOD,
    sc.ERROR_TYPE,
    sc.TOOL_NAME,
    sc.OPERATION,
    sc.MCP_PROTOCOL_VERSION,
    sc.RPC_STATUS,
    sc.NETWORK_PROTOCOL,
    sc.NETWORK_TRANSPORT,
)


class Operation:
    """One MCP or A2A operation's span (and, for MCP, its duration metric), made by
    ``start_operation``: ``set`` adds attributes as they become known, ``end`` closes
    it once (later calls do nothing). With OpenTelemetry off it is ``NO_OPERATION``,
    whose methods do nothing. Never raises."""

    __slots__ = ("attributes", "metric", "span", "started")

    def __init__(self, span: Any, metric: sc.Metric | None, attributes: dict[str, Any]) -> None:
        self.span, self.metric, self.attributes = span, metric, attributes
        self.started = time.perf_counter()

    def set(self, attributes: Mapping[str, Any]) -> None:
        """More attributes (redacted as every exported one)."""
        if self.span is None:
            return
        try:
            safe = _safe(attributes)
            self.attributes.update(safe)
            self.span.set_attributes(safe)
        except Exception:
            log.exception("tracing: an operation's attributes failed")

    def end(self, error_type: str = "", message: str = "") -> None:
        """Close the span. ``error_type``: what failed, low-cardinality (a JSON-RPC error
        code as a string, ``tool_error`` for a tool's ``isError`` result, an A2A error
        name); ``message``: the status description (redacted, 200 characters)."""
        span, self.span = self.span, None
        if span is None:
            return
        try:
            from opentelemetry.trace import Status, StatusCode

            if error_type:
                self.attributes[sc.ERROR_TYPE] = error_type
                span.set_attribute(sc.ERROR_TYPE, _safe_text(error_type))
                span.set_status(Status(StatusCode.ERROR, _safe_text(message)[:200]))
            span.end()
            if self.metric is not None and genai_metrics.ENABLED:
                labels = {k: self.attributes.get(k) for k in _METRIC_LABELS}
                genai_metrics.record(self.metric, time.perf_counter() - self.started, labels)
        except Exception:
            log.exception("tracing: ending an operation failed")


NO_OPERATION = Operation(None, None, {})


def _remote(carrier: Mapping[str, Any] | None) -> Any:
    """The context a W3C trace context in ``carrier`` (``traceparent``, ``tracestate``,
    ``baggage``: an MCP request's ``params._meta``, HTTP headers) names, or None."""
    if not carrier:
        return None
    from opentelemetry import propagate, trace

    fields = {str(k).lower(): v for k, v in carrier.items() if isinstance(v, str)}
    if "traceparent" not in fields:
        return None
    context = propagate.extract(fields)
    return context if trace.get_current_span(context).get_span_context().is_valid else None


def start_operation(
    protocol: WireProtocol,
    method: str,
    *,
    kind: Literal["server", "client"] = "server",
    target: str = "",
    attributes: Mapping[str, Any] | None = None,
    carrier: Mapping[str, Any] | None = None,
    link: Mapping[str, Any] | None = None,
) -> Operation:
    """A span for one MCP or A2A request, named and attributed as its protocol's
    semantic conventions say (``telemetry.semconv``), for a feature to call where it
    serves (``kind="server"``) or sends (``"client"``) one; ``end`` it when the answer
    (or the stream) is done.

    - ``protocol="mcp"``: named ``{method} {target}`` (``tools/call weather__forecast``;
      ``method`` alone without a target), ``mcp.method.name``; a ``tools/call`` also
      ``gen_ai.operation.name`` ``execute_tool`` and ``gen_ai.tool.name`` = target; its
      duration goes to ``mcp.server.operation.duration`` (``.client.`` for a client).
    - ``protocol="a2a"``: named ``{method}`` (``SendMessage``, ``SendStreamingMessage``,
      ``GetTask``...), ``a2a.method.name``; add ``a2a.task.id``, ``a2a.task.state``,
      ``gen_ai.conversation.id`` (the context id), ``gen_ai.agent.name`` with ``set``.
    - ``carrier``: where the caller's trace context is (an MCP request's
      ``params._meta``; an A2A request's HTTP headers): the span's parent. ``link``:
      another one (the HTTP request's headers under an MCP message) linked, or the
      parent when ``carrier`` has none. Neither: a child of the current span, if any.
    - ``attributes``: more, at creation (those a sampler may read).

    OpenTelemetry off: ``NO_OPERATION`` at the cost of one flag check."""
    if not ENABLED:
        return NO_OPERATION
    try:
        from opentelemetry import trace
        from opentelemetry.trace import Link, SpanKind

        if protocol == "mcp":
            name = f"{method} {target}" if target else method
            base: dict[str, Any] = {sc.MCP_METHOD: method}
            if method == sc.TOOL_CALL:
                base |= {sc.OPERATION: sc.EXECUTE_TOOL, sc.TOOL_NAME: target}
            metric = sc.MCP_SERVER_DURATION if kind == "server" else sc.MCP_CLIENT_DURATION
        else:
            name, base, metric = method, {sc.A2A_METHOD: method}, None
        safe = _safe(base | dict(attributes or {}))
        parent, linked = _remote(carrier), _remote(link)
        if parent is None:
            parent, linked = linked, None
        links = None
        if linked is not None:
            links = [Link(trace.get_current_span(linked).get_span_context())]
        span = tracer().start_span(
            _safe_text(name),
            context=parent,
            kind=SpanKind.SERVER if kind == "server" else SpanKind.CLIENT,
            attributes=safe,
            links=links,
        )
        return Operation(span, metric, safe)
    except Exception:
        log.exception("tracing: starting a %s operation failed", protocol)
        return NO_OPERATION


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
