"""Traces from a real server: with OTEL_EXPORTER_OTLP_ENDPOINT pointing at a small
OTLP/HTTP receiver on 127.0.0.1, a request driven by the OpenAI SDK arrives there as
protobuf spans with the GenAI attributes, under the trace the client started, and the
mock upstream receives the attempt span's traceparent."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from .conftest import Stack, start_stack

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
PARENT_ID = "b7ad6b7169203331"


class Receiver:
    """Accepts ``POST /v1/traces`` (OTLP/HTTP protobuf) and keeps the decoded spans."""

    def __init__(self) -> None:
        self.spans: list[tuple[dict, Span]] = []  # (resource attributes, span)
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:  # quiet
                pass

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("content-length") or 0))
                ok = self.path == "/v1/traces" and (
                    self.headers.get("content-type") == "application/x-protobuf"
                )
                if ok:
                    request = ExportTraceServiceRequest.FromString(raw)
                    with receiver.lock:
                        for resource_spans in request.resource_spans:
                            resource = attributes(resource_spans.resource.attributes)
                            for scope in resource_spans.scope_spans:
                                receiver.spans.extend((resource, s) for s in scope.spans)
                self.send_response(200 if ok else 404)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def wait_for(self, trace_id: str, count: int, timeout: float = 15) -> list[tuple[dict, Span]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                found = [(r, s) for r, s in self.spans if s.trace_id.hex() == trace_id]
            if len(found) >= count:
                return found
            time.sleep(0.1)
        raise AssertionError(f"{len(found)} span(s) of trace {trace_id} arrived, wanted {count}")


def value(v: AnyValue):
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [value(x) for x in v.array_value.values]
    return getattr(v, kind)


def attributes(items) -> dict:
    return {kv.key: value(kv.value) for kv in items}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.thread.start()
    yield running
    running.server.shutdown()
    running.server.server_close()


@pytest.fixture(scope="module")
def traced_stack(tmp_path_factory, receiver: Receiver) -> Iterator[Stack]:
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_SERVICE_NAME": "switchyard-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
    }
    with start_stack(tmp_path_factory, env=env) as running:
        yield running


def test_spans_arrive_with_genai_attributes_and_the_trace_reaches_the_upstream(
    traced_stack: Stack, receiver: Receiver
):
    traced_stack.mock.reset()
    client = traced_stack.openai()
    answer = client.chat.completions.create(
        model="mock-gpt",
        messages=[{"role": "user", "content": "trace me"}],
        max_tokens=64,
        temperature=0.5,
        extra_headers={"traceparent": f"00-{TRACE_ID}-{PARENT_ID}-01"},
    )
    assert answer.choices[0].message.content == "Hello from the mock upstream."

    spans = receiver.wait_for(TRACE_ID, 2)
    server = [s for _, s in spans if s.kind == Span.SPAN_KIND_SERVER]
    client_spans = [s for _, s in spans if s.kind == Span.SPAN_KIND_CLIENT]
    assert len(server) == 1 and len(client_spans) == 1
    (server,), (attempt,) = server, client_spans
    assert spans[0][0]["service.name"] == "switchyard-test"
    assert server.parent_span_id.hex() == PARENT_ID  # the client's span is the parent
    assert server.name == "chat mock-gpt"
    a = attributes(server.attributes)
    assert a["gen_ai.operation.name"] == "chat"
    assert a["gen_ai.provider.name"] == "openai"
    assert a["gen_ai.request.model"] == "mock-gpt" and a["gen_ai.response.model"] == "up-gpt"
    assert a["gen_ai.request.max_tokens"] == 64 and a["gen_ai.request.temperature"] == 0.5
    assert a["gen_ai.usage.input_tokens"] == 11 and a["gen_ai.usage.output_tokens"] == 7
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
    assert a["http.response.status_code"] == 200

    assert attempt.parent_span_id == server.span_id
    b = attributes(attempt.attributes)
    assert b["http.response.status_code"] == 200 and b["server.address"] == "127.0.0.1"
    assert b["url.full"].endswith("/v1/chat/completions")

    sent = traced_stack.mock.last.headers["traceparent"]
    _, trace_id, span_id, _ = sent.split("-")
    assert trace_id == TRACE_ID and span_id == attempt.span_id.hex()
    traced_stack.assert_clean_log()


def test_a_request_without_traceparent_starts_its_own_trace(traced_stack: Stack, receiver):
    traced_stack.mock.reset()
    with traced_stack.anthropic().messages.stream(
        model="mock-claude", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
    ) as stream:
        stream.get_final_message()
    sent = traced_stack.mock.last.headers["traceparent"]
    trace_id = sent.split("-")[1]
    spans = receiver.wait_for(trace_id, 2)
    (server,) = [s for _, s in spans if s.kind == Span.SPAN_KIND_SERVER]
    assert not server.parent_span_id
    a = attributes(server.attributes)
    assert a["gen_ai.provider.name"] == "anthropic" and a["gen_ai.request.stream"] is True
    assert a["gen_ai.response.finish_reasons"] == ["stop"]
