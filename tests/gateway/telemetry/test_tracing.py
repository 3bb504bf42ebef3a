"""OpenTelemetry spans through ``service.handle`` (an in-memory exporter): one server
span per request with the GenAI attributes, a client span per upstream attempt, the
client's traceparent honoured and the attempt's sent upstream; nothing when off."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from types import SimpleNamespace

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import service
from gateway.providers import kinds
from gateway.telemetry import tracing
from tests.gateway.entries import route, snapshot
from tests.live import ROOT

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
TRACEPARENT = f"00-{TRACE_ID}-{PARENT_ID}-01"
ANSWER = {
    "id": "c1",
    "object": "chat.completion",
    "created": 1,
    "model": "up-1",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15},
}


class Upstream:
    def __init__(self) -> None:
        self.headers: list[httpx.Headers] = []
        self.failures = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(request.headers)
        if self.failures:
            self.failures -= 1
            return httpx.Response(500, json={"error": {"message": "boom"}})
        if orjson.loads(request.content).get("stream"):
            chunks = [
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "up-1",
                    "choices": [{"index": 0, "delta": {"content": "hi"}}],
                },
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "up-1",
                    "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}],
                },
                {
                    "id": "c",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": "up-1",
                    "choices": [],
                    "usage": ANSWER["usage"],
                },
            ]
            body = b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks)
            return httpx.Response(
                200,
                headers={"content-type": "text/event-stream"},
                content=body + b"data: [DONE]\n\n",
            )
        return httpx.Response(200, json=ANSWER)


@pytest.fixture
def traced(monkeypatch: pytest.MonkeyPatch, snapshot_reset):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "ENABLED", True)
    tracing.use_provider(provider)
    monkeypatch.setattr(journal, "record", lambda rec: None)
    registry.install(snapshot(route("traced", "up-1", max_attempts=3)))
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))  # a new client: with the hook
    yield exporter, upstream
    http.use_transport(None)
    tracing.use_provider(None)


async def ask(headers: dict[str, str] | None = None, **body) -> service.Reply | service.StreamReply:
    payload = {"model": "traced", "messages": [{"role": "user", "content": "hello"}], **body}
    reply = await service.handle(
        "chat", "openai", orjson.dumps(payload), headers or {}, service.Caller(key=MASTER)
    )
    if isinstance(reply, service.StreamReply):
        async for _ in reply.chunks:
            pass
    return reply


def spans_by_kind(exporter: InMemorySpanExporter):
    spans = exporter.get_finished_spans()
    server = [s for s in spans if s.kind == SpanKind.SERVER]
    client = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert len(server) == 1
    return server[0], client


async def test_a_request_is_a_server_span_with_the_genai_attributes(traced):
    exporter, _ = traced
    reply = await ask(max_tokens=50, temperature=0.2, top_p=0.9, stop=["END"])
    assert reply.status == 200
    server, (client,) = spans_by_kind(exporter)
    a = server.attributes
    assert server.name == "chat traced"
    assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.request.model"] == "traced"
    assert a["gen_ai.provider.name"] == "openai" and "gen_ai.system" not in a
    assert a["gen_ai.response.model"] == "up-1"
    assert a["gen_ai.request.max_tokens"] == 50 and a["gen_ai.request.temperature"] == 0.2
    assert a["gen_ai.request.top_p"] == 0.9 and tuple(a["gen_ai.request.stop_sequences"]) == (
        "END",
    )
    assert a["gen_ai.usage.input_tokens"] == 12 and a["gen_ai.usage.output_tokens"] == 3
    assert tuple(a["gen_ai.response.finish_reasons"]) == ("stop",)
    assert a["http.response.status_code"] == 200 and a["switchyard.route"] == "traced"
    assert server.status.status_code == StatusCode.UNSET


async def test_the_clients_traceparent_is_the_parent_and_the_attempts_goes_upstream(traced):
    exporter, upstream = traced
    await ask(headers={"traceparent": TRACEPARENT})
    server, (client,) = spans_by_kind(exporter)
    assert format(server.context.trace_id, "032x") == TRACE_ID
    assert format(server.parent.span_id, "016x") == PARENT_ID
    assert client.parent.span_id == server.context.span_id
    assert client.name == "chat up-1"
    assert client.attributes["http.response.status_code"] == 200
    assert client.attributes["server.address"] == "mock"
    assert client.attributes["url.full"] == "http://mock/v1/chat/completions"
    sent = upstream.headers[0]["traceparent"]
    version, trace_id, span_id, flags = sent.split("-")
    assert trace_id == TRACE_ID and span_id == format(client.context.span_id, "016x")


async def test_each_upstream_attempt_is_a_client_span_with_its_status(traced):
    exporter, upstream = traced
    upstream.failures = 1
    reply = await ask()
    assert reply.status == 200
    server, clients = spans_by_kind(exporter)
    assert [c.attributes["http.response.status_code"] for c in clients] == [500, 200]
    assert clients[0].status.status_code == StatusCode.ERROR
    assert clients[1].status.status_code == StatusCode.UNSET
    sent = {h["traceparent"].split("-")[2] for h in upstream.headers}
    assert sent == {format(c.context.span_id, "016x") for c in clients}
    assert server.attributes["switchyard.attempts"] == 2


async def test_a_stream_span_ends_with_the_stream_and_its_usage(traced):
    exporter, _ = traced
    await ask(stream=True)
    server, (client,) = spans_by_kind(exporter)
    assert server.attributes["gen_ai.request.stream"] is True
    assert tuple(server.attributes["gen_ai.response.finish_reasons"]) == ("length",)
    assert server.attributes["gen_ai.usage.output_tokens"] == 3
    assert server.end_time >= client.end_time


async def test_a_failed_request_is_an_error_span(traced):
    exporter, upstream = traced
    upstream.failures = 3
    reply = await ask()
    assert reply.status == 502
    server, clients = spans_by_kind(exporter)
    assert len(clients) == 3 and all(c.status.status_code == StatusCode.ERROR for c in clients)
    assert server.status.status_code == StatusCode.ERROR
    assert server.attributes["error.type"] and "gen_ai.usage.input_tokens" not in server.attributes


def test_configured_by_the_standard_variables():
    assert not tracing.configured({})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c/v1/traces"})
    assert not tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": " "})
    assert not tracing.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_SDK_DISABLED": "true"}
    )
    assert not tracing.configured(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c", "OTEL_TRACES_EXPORTER": "none"}
    )


def test_off_the_sdk_is_never_imported_and_the_client_has_no_hook():
    code = """
import asyncio, os, sys
os.environ.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
os.environ.pop("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", None)
os.environ["DJANGO_SETTINGS_MODULE"] = "gateway.server.settings"
import django
django.setup()
from gateway.base import http
from gateway.core import service
from gateway.telemetry import tracing
assert not tracing.ENABLED
async def main():
    client = http.client()
    assert client.event_hooks["request"] == [], client.event_hooks
asyncio.run(main())
loaded = [m for m in sys.modules if m.startswith("opentelemetry")]
assert not loaded, loaded
print("clean")
"""
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("OTEL_")}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stdout.strip() == "clean", result.stderr


def every_exported_text(span) -> list[str]:
    texts = [span.name, span.status.description or ""]
    for value in span.attributes.values():
        texts.extend(value if isinstance(value, tuple) else [value])
    return [t for t in texts if isinstance(t, str)]


@pytest.mark.parametrize("failures", [0, 3])
@pytest.mark.parametrize(
    ("base_url", "exported"),
    [
        ("http://user:s3cret-pass@mock/v1", "http://***@mock/v1/chat/completions"),
        (  # a key in the query, as some OpenAI-compatible hosts take it
            "http://user:s3cret-pass@mock/v1?api-key=s3cret-key",
            "http://***@mock/v1?api-key=***",  # the value (and what follows it) masked
        ),
    ],
)
async def test_credentials_in_a_base_url_are_never_exported(traced, failures, base_url, exported):
    exporter, upstream = traced
    provider = ProviderEntry(2, "keyed", "openai", base_url, "", {}, "", None)
    registry.install(snapshot(route("traced", "up-1", max_attempts=3, provider=provider)))
    upstream.failures = failures
    await ask()
    spans = exporter.get_finished_spans()
    client = [s for s in spans if s.kind == SpanKind.CLIENT]
    assert client[0].attributes["url.full"] == exported
    for span in spans:
        assert not any("s3cret" in text for text in every_exported_text(span))


def test_every_exported_attribute_goes_through_the_redaction():
    url = "https://u:p4ss@host.example/openai?api-version=2024-06-01&api-key=k-SECRET&sig=S1"
    safe = tracing._safe(
        {
            "url.full": url,
            "list": [url, "Bearer abcdefghijklmnop"],
            "status": 200,
            "message": f"could not reach {url}",
        }
    )
    assert safe["url.full"] == (
        "https://***@host.example/openai?api-version=2024-06-01&api-key=***&sig=***"
    )
    assert safe["list"][1] == "Bearer [redacted]" and safe["status"] == 200
    assert "k-SECRET" not in safe["message"] and "p4ss" not in safe["message"]


KIND_NAMES = {  # gen_ai.provider.name: the semantic conventions' well-known values
    "openai": "openai",
    "openai_responses": "openai",
    "azure": "azure.ai.openai",
    "anthropic": "anthropic",
    "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai",
    "gemini": "gcp.gemini",
    "gemini_interactions": "gcp.gemini",
    "cohere": "cohere",
    "echo": "echo",  # none applies: the kind's own name
}


@pytest.mark.parametrize(("kind", "name"), list(KIND_NAMES.items()))
def test_an_attempt_names_its_provider_as_its_kind_declares(monkeypatch, kind, name):
    """Each kind's ``trace_name``. Bedrock, Vertex AI, Gemini, Cohere and the Responses
    API once went out under their kind's name ("bedrock", "openai_responses"): a table
    of three kinds in this module missed them in silence."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.use_provider(provider)
    try:
        d = route("r", "up-1").deployments[0]
        d = dataclasses.replace(d, provider=dataclasses.replace(d.provider, kind=kind))
        parent = tracing.tracer().start_span("request")
        call = SimpleNamespace(
            endpoint="chat", deployment=d, span=parent, exchange=None, record=journal.Record("r")
        )
        call.attempt_spans = []  # (start_attempt reads and fills it)
        tracing.start_attempt(call)
        (attempt,) = call.attempt_spans
        assert attempt.span.attributes["gen_ai.provider.name"] == name
        assert "gen_ai.system" not in attempt.span.attributes  # deprecated: never sent
    finally:
        tracing.use_provider(None)
    assert set(KIND_NAMES) == set(kinds.KINDS)  # every kind, none missed


@pytest.fixture
def exported(monkeypatch: pytest.MonkeyPatch):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "ENABLED", True)
    tracing.use_provider(provider)
    yield exporter
    tracing.use_provider(None)


def test_an_a2a_operation_is_a_span_of_the_a2a_conventions(exported):
    """The hook the A2A feature calls: named ``{a2a.method.name}``, its parent the
    caller's trace context, attributes added as they are known, ended once."""
    operation = tracing.start_operation(
        "a2a",
        "SendMessage",
        carrier={"traceparent": TRACEPARENT, "content-type": "application/json"},
        attributes={"a2a.task.id": "task-1", "a2a.protocol.version": "1.0"},
    )
    operation.set({"a2a.task.state": "TASK_STATE_COMPLETED", "gen_ai.conversation.id": "ctx-1"})
    operation.end()
    operation.end("late")  # a second end does nothing
    (span,) = exported.get_finished_spans()
    assert span.name == "SendMessage" and span.kind == SpanKind.SERVER
    assert format(span.parent.span_id, "016x") == PARENT_ID
    assert format(span.context.trace_id, "032x") == TRACE_ID
    assert dict(span.attributes) == {
        "a2a.method.name": "SendMessage",
        "a2a.task.id": "task-1",
        "a2a.protocol.version": "1.0",
        "a2a.task.state": "TASK_STATE_COMPLETED",
        "gen_ai.conversation.id": "ctx-1",
    }
    assert span.status.status_code == StatusCode.UNSET


def test_an_mcp_client_operation_that_failed_links_the_other_context(exported):
    other = f"00-{'1' * 32}-{'2' * 16}-01"
    operation = tracing.start_operation(
        "mcp",
        "tools/call",
        kind="client",
        target="forecast",
        carrier={"traceparent": other},
        link={"traceparent": TRACEPARENT},
    )
    operation.end("-32602", "invalid arguments for https://u:p4ss@host.example/x")
    (span,) = exported.get_finished_spans()
    assert span.name == "tools/call forecast" and span.kind == SpanKind.CLIENT
    assert span.attributes["gen_ai.operation.name"] == "execute_tool"
    assert span.attributes["gen_ai.tool.name"] == "forecast"
    assert span.attributes["error.type"] == "-32602"
    assert span.status.status_code == StatusCode.ERROR
    assert "p4ss" not in span.status.description  # redacted as every exported text
    assert format(span.parent.span_id, "016x") == "2" * 16
    (link,) = span.links
    assert format(link.context.span_id, "016x") == PARENT_ID


def test_an_operation_without_a_trace_context_is_a_root_span(exported):
    tracing.start_operation("mcp", "tools/list", carrier={"traceparent": "garbage"}).end()
    (span,) = exported.get_finished_spans()
    assert span.name == "tools/list" and span.parent is None
    assert "gen_ai.operation.name" not in span.attributes  # only a tools/call executes a tool


def test_the_usage_attributes_split_cache_reads_writes_and_reasoning():
    from gateway.base.types import Usage

    usage = Usage(input_tokens=10, output_tokens=20, cache_read_tokens=30, cache_write_tokens=40,
                  reasoning_tokens=5)  # fmt: skip
    assert tracing._usage_attributes(usage) == {
        "gen_ai.usage.input_tokens": 80,  # every input token, cached ones included
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 30,
        "gen_ai.usage.cache_write.input_tokens": 40,
        "gen_ai.usage.reasoning.output_tokens": 5,
    }
    assert set(tracing._usage_attributes(Usage(3, 4))) == {
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    }


async def test_a_stream_cut_after_it_began_reports_the_error_finish_reason(traced):
    exporter, upstream = traced

    def cut(request: httpx.Request) -> httpx.Response:
        chunk = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up-1",
                 "choices": [{"index": 0, "delta": {"content": "hi"}}]}  # fmt: skip
        return httpx.Response(
            200,
            headers={"content-type": "text/event-stream"},
            content=b"data: " + orjson.dumps(chunk) + b"\n\ndata: {not json\n\n",
        )

    http.use_transport(httpx.MockTransport(cut))
    await ask(stream=True)
    server, (client,) = spans_by_kind(exporter)
    assert server.attributes["http.response.status_code"] >= 500
    assert tuple(server.attributes["gen_ai.response.finish_reasons"]) == ("error",)
    assert tuple(client.attributes["gen_ai.response.finish_reasons"]) == ("error",)
