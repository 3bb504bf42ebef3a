"""A small OTLP/HTTP collector for tests: a thread of the test process serving
``POST /v1/traces`` and ``POST /v1/metrics`` on 127.0.0.1, each body decoded with the
OTLP protobuf messages (``opentelemetry-proto``) into plain records a test can read:
``Span`` (name, kind, ids, attributes, status, links) and ``Point`` (metric name, unit,
instrument, attributes, value or histogram count, sum and bounds).

Point a process at it with ``OTEL_EXPORTER_OTLP_ENDPOINT=collector.url``; the OTLP
exporters post protobuf there (gzip when ``OTEL_EXPORTER_OTLP_COMPRESSION=gzip``)."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1 import common_pb2

KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS = {0: "UNSET", 1: "OK", 2: "ERROR"}


def value_of(value: common_pb2.AnyValue) -> Any:
    """An OTLP ``AnyValue`` as Python (arrays as tuples, as the SDK hands them)."""
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return tuple(value_of(v) for v in value.array_value.values)
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in value.kvlist_value.values}
    return None if kind is None else getattr(value, kind)


def attributes_of(pairs: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in pairs}


@dataclass
class Span:
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    status: str
    status_message: str
    links: list[tuple[str, str]]  # (trace id, span id)
    resource: dict[str, Any]


@dataclass
class Point:
    metric: str
    unit: str
    instrument: str  # sum | histogram | gauge
    attributes: dict[str, Any]
    value: float = 0.0  # a sum's or gauge's
    count: int = 0  # a histogram's
    total: float = 0.0
    bounds: tuple[float, ...] = ()
    monotonic: bool = False


@dataclass
class Collector:
    url: str = ""
    spans: list[Span] = field(default_factory=list)
    points: list[Point] = field(default_factory=list)  # every export, in arrival order
    posts: list[tuple[str, str]] = field(default_factory=list)  # (path, content type)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take_traces(self, body: bytes) -> None:
        request = trace_service_pb2.ExportTraceServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_spans in request.resource_spans:
            resource = attributes_of(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(
                        Span(
                            name=s.name,
                            kind=KINDS[s.kind],
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_id=s.parent_span_id.hex(),
                            attributes=attributes_of(s.attributes),
                            status=STATUS[s.status.code],
                            status_message=s.status.message,
                            links=[(k.trace_id.hex(), k.span_id.hex()) for k in s.links],
                            resource=resource,
                        )
                    )
        with self.lock:
            self.spans += found

    def take_metrics(self, body: bytes) -> None:
        request = metrics_service_pb2.ExportMetricsServiceRequest()
        request.ParseFromString(body)
        found = []
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for m in scope_metrics.metrics:
                    kind = m.WhichOneof("data")
                    if kind == "histogram":
                        for p in m.histogram.data_points:
                            found.append(
                                Point(
                                    m.name,
                                    m.unit,
                                    "histogram",
                                    attributes_of(p.attributes),
                                    count=p.count,
                                    total=p.sum,
                                    bounds=tuple(p.explicit_bounds),
                                )
                            )
                    elif kind in ("sum", "gauge"):
                        data = getattr(m, kind)
                        for p in data.data_points:
                            number = p.as_int if p.WhichOneof("value") == "as_int" else p.as_double
                            found.append(
                                Point(
                                    m.name,
                                    m.unit,
                                    kind,
                                    attributes_of(p.attributes),
                                    value=number,
                                    monotonic=kind == "sum" and data.is_monotonic,
                                )
                            )
        with self.lock:
            self.points += found

    def latest(self, metric: str) -> list[Point]:
        """The points of ``metric`` in the last export that had it (cumulative: the
        latest holds everything so far)."""
        with self.lock:
            points = [p for p in self.points if p.metric == metric]
        seen: dict[tuple[tuple[str, Any], ...], Point] = {}
        for point in points:
            seen[tuple(sorted(point.attributes.items()))] = point
        return list(seen.values())

    def wait(self, holds: Callable[[Collector], bool], timeout: float = 20) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if holds(self):
                return True
            time.sleep(0.1)
        return holds(self)


def _handler(collector: Collector) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            with collector.lock:
                collector.posts.append((self.path, self.headers.get("Content-Type", "")))
            if self.path == "/v1/traces":
                collector.take_traces(body)
                answer = trace_service_pb2.ExportTraceServiceResponse()
            elif self.path == "/v1/metrics":
                collector.take_metrics(body)
                answer = metrics_service_pb2.ExportMetricsServiceResponse()
            else:
                self.send_error(404)
                return
            payload = answer.SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:  # quiet
            pass

    return Handler


@contextmanager
def running_collector() -> Iterator[Collector]:
    collector = Collector()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(collector))
    collector.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield collector
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
