"""OpenTelemetry metrics in the GenAI and MCP semantic conventions (names and buckets:
``telemetry.semconv``), exported over OTLP/HTTP (protobuf) like the traces, on when an
OTLP endpoint is configured for metrics (``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_ENDPOINT``; off with ``OTEL_METRICS_EXPORTER=none`` or
``OTEL_SDK_DISABLED=true``). The other standard variables apply as the SDK reads them:
``OTEL_METRIC_EXPORT_INTERVAL`` (60 s by default), ``OTEL_EXPORTER_OTLP_HEADERS``,
``OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE``.

What is recorded, and where (``tracing`` calls ``record`` as each operation ends, after
the reply is written):

- each upstream attempt, a client inference operation: ``gen_ai.client.inference.duration``
  (with ``error.type`` when it failed), ``.time_to_first_chunk`` (streams), the usage
  counters ``gen_ai.client.inference.usage.*`` (every attempt, 0 for a failed one) and
  the per-operation histograms ``gen_ai.client.inference.operation.*_tokens`` (successful
  attempts only);
- each request as Switchyard served it: ``gen_ai.server.request.duration`` and, for a
  stream, ``gen_ai.server.time_to_first_token`` (to the caller, retries included);
- each tool a hosted MCP loop ran: ``gen_ai.execute_tool.duration``; each MCP operation
  served at ``/mcp``: ``mcp.server.operation.duration``.

Off (``ENABLED`` false) nothing here runs and the SDK is never imported. Recording never
fails a request: a failure is logged and dropped."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Mapping
from typing import Any

from gateway.telemetry import semconv

log = logging.getLogger(__name__)

ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")
INSTRUMENTS: tuple[semconv.Metric, ...] = (
    semconv.INFERENCE_DURATION,
    semconv.INFERENCE_FIRST_CHUNK,
    semconv.USAGE_INPUT_TOKENS,
    semconv.USAGE_OUTPUT_TOKENS,
    semconv.USAGE_CACHE_READ_TOKENS,
    semconv.USAGE_CACHE_WRITE_TOKENS,
    semconv.USAGE_REASONING_TOKENS,
    semconv.OPERATION_INPUT_TOKENS,
    semconv.OPERATION_OUTPUT_TOKENS,
    semconv.SERVER_DURATION,
    semconv.SERVER_FIRST_TOKEN,
    semconv.TOOL_DURATION,
    semconv.MCP_SERVER_DURATION,
    semconv.MCP_CLIENT_DURATION,
)


def exporting(
    exporter: str, endpoints: tuple[str, ...], environ: Mapping[str, str] = os.environ
) -> bool:
    """Whether the environment asks for a signal's export (metrics here, ``tracing``'s
    traces): the SDK not disabled, the signal's ``exporter`` variable not ``none``, and
    one of its OTLP ``endpoints`` set."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get(exporter, "").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in endpoints)


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the environment asks for metric export."""
    return exporting("OTEL_METRICS_EXPORTER", ENDPOINT_VARIABLES, environ)


ENABLED: bool = configured()

_instruments: dict[str, Any] | None = None
_provider: Any = None
_lock = threading.Lock()


def resource_attributes() -> dict[str, str]:
    """The resource both signals carry: ``service.name`` switchyard unless
    ``OTEL_SERVICE_NAME`` names it (the SDK reads that and ``OTEL_RESOURCE_ATTRIBUTES``)."""
    return {} if os.environ.get("OTEL_SERVICE_NAME") else {"service.name": "switchyard"}


def use_provider(provider: Any) -> None:
    """Record through ``provider`` (tests: a ``MeterProvider`` with an in-memory reader);
    None: build the OTLP one again on next use."""
    global _instruments, _provider
    with _lock:
        _provider = provider
        _instruments = None if provider is None else _build(provider)


def _build(provider: Any) -> dict[str, Any]:
    meter = provider.get_meter("switchyard")
    made: dict[str, Any] = {}
    for name, unit, buckets in INSTRUMENTS:
        if buckets is None:
            made[name] = meter.create_counter(name, unit=unit)
        else:
            made[name] = meter.create_histogram(
                name, unit=unit, explicit_bucket_boundaries_advisory=list(buckets)
            )
    return made


def instruments() -> dict[str, Any]:
    """The process's instruments, built on first use (each worker process its own)."""
    global _instruments, _provider
    if _instruments is not None:
        return _instruments
    with _lock:
        if _instruments is None:
            # the SDK is imported only once metrics are on (an optional extra)
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
                OTLPMetricExporter,
            )
            from opentelemetry.sdk.metrics import MeterProvider
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
            from opentelemetry.sdk.resources import Resource

            reader = PeriodicExportingMetricReader(OTLPMetricExporter())
            _provider = MeterProvider(
                metric_readers=[reader], resource=Resource.create(resource_attributes())
            )
            _instruments = _build(_provider)
        return _instruments


def record(metric: semconv.Metric, value: float, attributes: Mapping[str, Any]) -> None:
    """Add ``value`` to a counter or record it in a histogram (as ``metric`` is one)."""
    try:
        instrument = instruments()[metric[0]]
        clean = {k: v for k, v in attributes.items() if v is not None and v != ""}
        if metric[2] is None:
            instrument.add(value, clean)
        else:
            instrument.record(value, clean)
    except Exception:
        log.exception("metrics: recording %s failed", metric[0])


def flush(timeout_millis: float = 10_000) -> bool:
    """Export what is recorded now (shutdown, tests); True when there was nothing to do
    or it went out."""
    provider = _provider
    if provider is None:
        return True
    try:
        return bool(provider.force_flush(timeout_millis))
    except Exception:
        log.exception("metrics: flush failed")
        return False
