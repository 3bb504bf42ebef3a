"""The GenAI metrics through ``service.handle`` (an in-memory reader): what each
upstream attempt and each request records, failed attempts included as the conventions
ask (usage counters with 0, no token histogram); metrics without traces (the API's
no-op spans); the standard variables that turn them on and off. The names themselves
are checked against the conventions in ``test_semconv.py`` (OTLP, a running server)."""

from __future__ import annotations

import httpx
import pytest
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import NoOpTracer

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.telemetry import genai_metrics, tracing
from tests.gateway.entries import route, snapshot
from tests.gateway.telemetry.test_tracing import Upstream, ask


@pytest.fixture
def metered(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    """Metrics on, traces off: spans are the API's no-op ones."""
    reader = InMemoryMetricReader()
    monkeypatch.setattr(tracing, "ENABLED", True)
    monkeypatch.setattr(tracing, "TRACES", False)
    monkeypatch.setattr(genai_metrics, "ENABLED", True)
    tracing.use_provider(None)  # built again: the no-op tracer
    genai_metrics.use_provider(MeterProvider(metric_readers=[reader]))
    monkeypatch.setattr(journal, "record", lambda rec: None)
    registry.install(snapshot(route("metered", "up-1", max_attempts=3)))
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))
    yield reader, upstream
    http.use_transport(None)
    tracing.use_provider(None)
    genai_metrics.use_provider(None)


def points(reader: InMemoryMetricReader) -> dict[str, list]:
    data = reader.get_metrics_data()
    found: dict[str, list] = {}
    if data is None:
        return found
    for rm in data.resource_metrics:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                found[m.name] = list(m.data.data_points)
    return found


async def test_metrics_without_traces_use_no_op_spans(metered):
    reader, _ = metered
    reply = await ask(model="metered")
    assert reply.status == 200
    assert isinstance(tracing.tracer(), NoOpTracer)
    found = points(reader)
    (duration,) = found["gen_ai.client.inference.duration"]
    labels = dict(duration.attributes)
    assert labels["gen_ai.operation.name"] == "chat" and labels["gen_ai.provider.name"] == "openai"
    assert labels["gen_ai.request.model"] == "up-1" and labels["server.address"] == "mock"
    assert labels["server.port"] == 80 and "error.type" not in labels
    (inputs,) = found["gen_ai.client.inference.usage.input_tokens"]
    assert inputs.value == 12 and dict(inputs.attributes)["gen_ai.token.modality"] == "unknown"
    (served,) = found["gen_ai.server.request.duration"]
    assert dict(served.attributes)["gen_ai.request.model"] == "metered"
    assert "gen_ai.server.time_to_first_token" not in found  # not a stream
    assert "gen_ai.client.inference.time_to_first_chunk" not in found


async def test_a_failed_attempt_counts_zero_tokens_and_no_histogram(metered):
    reader, upstream = metered
    upstream.failures = 1  # the first attempt fails, the retry answers
    reply = await ask(model="metered")
    assert reply.status == 200
    found = points(reader)
    durations = {dict(p.attributes).get("error.type"): p.count for p in found[
        "gen_ai.client.inference.duration"
    ]}  # fmt: skip
    assert durations == {"500": 1, None: 1}
    counted = {dict(p.attributes).get("error.type"): p.value for p in found[
        "gen_ai.client.inference.usage.input_tokens"
    ]}  # fmt: skip
    assert counted == {"500": 0, None: 12}  # every operation, a failed one with 0
    (histogram,) = found["gen_ai.client.inference.operation.input_tokens"]
    assert histogram.count == 1 and "error.type" not in dict(histogram.attributes)


async def test_a_stream_records_its_first_chunk_and_first_token(metered):
    reader, _ = metered
    await ask(model="metered", stream=True)
    found = points(reader)
    (chunk,) = found["gen_ai.client.inference.time_to_first_chunk"]
    (token,) = found["gen_ai.server.time_to_first_token"]
    assert chunk.count == token.count == 1 and chunk.sum > 0 and token.sum > 0


async def test_a_request_that_failed_is_served_with_its_error_type(metered):
    reader, upstream = metered
    upstream.failures = 3
    reply = await ask(model="metered")
    assert reply.status == 502
    (served,) = points(reader)["gen_ai.server.request.duration"]
    assert dict(served.attributes)["error.type"]
    assert "gen_ai.client.inference.operation.input_tokens" not in points(reader)


def test_configured_by_the_standard_variables():
    assert not genai_metrics.configured({})
    assert genai_metrics.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert genai_metrics.configured({"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://c/v1/m"})
    assert not genai_metrics.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/t"})
    assert not genai_metrics.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_METRICS_EXPORTER": "none"}
    )
    assert not genai_metrics.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}
    )


def test_off_nothing_is_recorded_and_the_sdk_is_not_built(monkeypatch):
    monkeypatch.setattr(genai_metrics, "ENABLED", False)
    monkeypatch.setattr(tracing, "ENABLED", False)
    genai_metrics.use_provider(None)
    assert tracing.start_operation("mcp", "tools/call", target="x") is tracing.NO_OPERATION
    assert genai_metrics._instruments is None and genai_metrics.flush()
