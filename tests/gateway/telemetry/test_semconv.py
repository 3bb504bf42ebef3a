"""What a running ``manage.py serve`` exports over OTLP/HTTP, received by a collector on
127.0.0.1 (``tests/otlp_collector.py``, the OTLP protobuf decoded) from real requests: a
chat completion, a streamed one and two MCP tool calls through ``/mcp``; every name
checked against the conventions' own tables below, written from the documents (not
from ``gateway/telemetry/semconv.py``, whose mistakes they are here to catch).

Source of the tables: the repository ``open-telemetry/semantic-conventions-genai`` —
``docs/gen-ai/client-inference.md`` @ 024a4f94 (the inference span and its metrics),
``docs/gen-ai/gen-ai-token-metrics.md`` @ 066d4a7f (token counters and histograms),
``docs/gen-ai/gen-ai-metrics.md`` @ 004902b8 (server and tool metrics),
``docs/gen-ai/mcp.md`` @ 0393513c (MCP spans and metrics)."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client

from tests.live import MASTER_KEY, Gateway, running_gateway
from tests.mcp_test_server import running_mcp_server
from tests.otlp_collector import Collector, Point, Span, running_collector

# --- the conventions -------------------------------------------------------------------------

# Every attribute the client inference span (gen_ai.client.inference) may carry
# (client-inference.md, "Span: gen_ai.client.inference").
INFERENCE_SPAN_ATTRIBUTES = {
    "gen_ai.operation.name", "gen_ai.provider.name", "error.type", "gen_ai.conversation.id",
    "gen_ai.output.type", "gen_ai.prompt.name", "gen_ai.prompt.version",
    "gen_ai.request.choice.count", "gen_ai.request.model", "gen_ai.request.seed",
    "gen_ai.request.stream", "gen_ai.request.top_k", "server.port",
    "gen_ai.conversation.compacted", "gen_ai.request.frequency_penalty",
    "gen_ai.request.max_tokens", "gen_ai.request.presence_penalty",
    "gen_ai.request.previous_response.id", "gen_ai.request.reasoning.level",
    "gen_ai.request.stop_sequences", "gen_ai.request.temperature", "gen_ai.request.top_p",
    "gen_ai.response.finish_reasons", "gen_ai.response.id", "gen_ai.response.model",
    "gen_ai.response.time_to_first_chunk", "gen_ai.usage.audio.cache_read.input_tokens",
    "gen_ai.usage.audio.input_tokens", "gen_ai.usage.audio.output_tokens",
    "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_write.input_tokens",
    "gen_ai.usage.image.cache_read.input_tokens", "gen_ai.usage.image.input_tokens",
    "gen_ai.usage.image.output_tokens", "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens", "gen_ai.usage.reasoning.output_tokens",
    "gen_ai.usage.text.cache_read.input_tokens", "gen_ai.usage.text.input_tokens",
    "gen_ai.usage.text.output_tokens", "server.address", "gen_ai.input.messages",
    "gen_ai.output.messages", "gen_ai.prompt.variable", "gen_ai.system_instructions",
    "gen_ai.tool.definitions",
}  # fmt: skip
INFERENCE_REQUIRED = {"gen_ai.operation.name", "gen_ai.provider.name"}
# The MCP server span (mcp.md, "Server").
MCP_SERVER_SPAN_ATTRIBUTES = {
    "mcp.method.name", "error.type", "gen_ai.prompt.name", "gen_ai.tool.name",
    "jsonrpc.request.id", "mcp.resource.uri", "rpc.response.status_code", "client.address",
    "client.port", "gen_ai.operation.name", "jsonrpc.protocol.version",
    "mcp.protocol.version", "mcp.session.id", "network.protocol.name",
    "network.protocol.version", "network.transport", "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
}  # fmt: skip
DURATION = [0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92]
TOKENS = [1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216,
          67108864]  # fmt: skip
FIRST_TOKEN = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
               7.5, 10.0]  # fmt: skip
MCP_DURATION = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
# metric: (instrument, unit, bucket boundaries of a histogram)
METRICS: dict[str, tuple[str, str, list[float] | None]] = {
    "gen_ai.client.inference.duration": ("histogram", "s", DURATION),
    "gen_ai.client.inference.time_to_first_chunk": ("histogram", "s", DURATION),
    "gen_ai.client.inference.usage.input_tokens": ("sum", "{token}", None),
    "gen_ai.client.inference.usage.output_tokens": ("sum", "{token}", None),
    "gen_ai.client.inference.usage.cache_read.input_tokens": ("sum", "{token}", None),
    "gen_ai.client.inference.usage.cache_write.input_tokens": ("sum", "{token}", None),
    "gen_ai.client.inference.usage.reasoning.output_tokens": ("sum", "{token}", None),
    "gen_ai.client.inference.operation.input_tokens": ("histogram", "{token}", TOKENS),
    "gen_ai.client.inference.operation.output_tokens": ("histogram", "{token}", TOKENS),
    "gen_ai.server.request.duration": ("histogram", "s", DURATION),
    "gen_ai.server.time_to_first_token": ("histogram", "s", FIRST_TOKEN),
    "mcp.server.operation.duration": ("histogram", "s", MCP_DURATION),
}
# the attributes each metric may carry (client-inference.md, gen-ai-token-metrics.md,
# gen-ai-metrics.md, mcp.md)
GENAI_METRIC_ATTRIBUTES = {
    "gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model",
    "gen_ai.response.model", "server.address", "server.port", "error.type",
}  # fmt: skip
USAGE_METRIC_ATTRIBUTES = GENAI_METRIC_ATTRIBUTES - {"error.type"} | {"gen_ai.token.modality"}
MCP_METRIC_ATTRIBUTES = {
    "mcp.method.name", "error.type", "gen_ai.prompt.name", "gen_ai.tool.name",
    "rpc.response.status_code", "gen_ai.operation.name", "jsonrpc.protocol.version",
    "mcp.protocol.version", "network.protocol.name", "network.protocol.version",
    "network.transport", "server.address", "server.port", "mcp.resource.uri",
}  # fmt: skip

# --- the upstream, the gateway, the requests -------------------------------------------------

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CHAT_PARENT, MCP_PARENT = "00f067aa0ba902b7", "00f067aa0ba902c8"
USAGE = {
    "prompt_tokens": 40,
    "completion_tokens": 12,
    "total_tokens": 52,
    "prompt_tokens_details": {"cached_tokens": 30},
    "completion_tokens_details": {"reasoning_tokens": 5},
}


class Upstream(BaseHTTPRequestHandler):
    """An OpenAI-compatible model: ``up-1`` answers as ``up-1-0613``, with cached and
    reasoning tokens in its usage."""

    def do_POST(self) -> None:  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        base = {"id": "chatcmpl-up-7", "created": 1, "model": "up-1-0613"}
        if body.get("stream"):
            chunks = [
                {**base, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {"role": "assistant", "content": "hi"}}]},
                {**base, "object": "chat.completion.chunk",
                 "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
                {**base, "object": "chat.completion.chunk", "choices": [], "usage": USAGE},
            ]  # fmt: skip
            data = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks)
            self._send(data + b"data: [DONE]\n\n", "text/event-stream")
            return
        answer = {
            **base,
            "object": "chat.completion",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "hi"},
                 "finish_reason": "stop"}
            ],
            "usage": USAGE,
        }  # fmt: skip
        self._send(json.dumps(answer).encode(), "application/json")

    def _send(self, data: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> Iterator[tuple[Collector, int]]:
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    port = upstream.server_address[1]
    folder: Path = tmp_path_factory.mktemp("otlp")
    try:
        with running_collector() as collector, running_mcp_server() as mcp_url:
            config = folder / "config.yaml"
            config.write_text(
                "model_list:\n"
                "  - model_name: traced\n"
                "    litellm_params:\n"
                "      model: openai/up-1\n"
                f"      api_base: http://127.0.0.1:{port}/v1\n"
                "      api_key: sk-mock-upstream-key-0000\n"
                "mcp_servers:\n"
                "  web:\n"
                f"    url: {mcp_url}\n"
                "    transport: http\n"
            )
            env = {
                "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
                "OTEL_BSP_SCHEDULE_DELAY": "100",
                "OTEL_METRIC_EXPORT_INTERVAL": "250",
            }
            setup = [["import_config", str(config)]]
            with running_gateway(folder / "data", env, setup=setup, seed=False) as gw:
                _requests(gw)
                collector.wait(_all_arrived)  # each test then says what is missing
            yield collector, port
    finally:
        upstream.shutdown()
        upstream.server_close()


def _requests(gw: Gateway) -> None:
    auth = {"Authorization": f"Bearer {MASTER_KEY}"}
    ask = {"model": "traced", "messages": [{"role": "user", "content": "hello"}]}
    traced = auth | {"traceparent": f"00-{TRACE_ID}-{CHAT_PARENT}-01"}
    with httpx.Client(base_url=gw.url, timeout=30) as client:
        plain = client.post("/v1/chat/completions", json=ask, headers=traced)
        assert plain.status_code == 200, plain.text
        stream = {**ask, "stream": True, "stream_options": {"include_usage": True}}
        with client.stream("POST", "/v1/chat/completions", json=stream, headers=auth) as reply:
            assert reply.status_code == 200
            assert b"[DONE]" in b"".join(reply.iter_bytes())

    async def tools() -> None:
        http = create_mcp_http_client(headers=auth)
        meta: Any = {"traceparent": f"00-{TRACE_ID}-{MCP_PARENT}-01"}
        # the initialize handshake's revision (a session), then the stateless one (none)
        legacy = Client(streamable_http_client(gw.url + "/mcp", http_client=http), mode="legacy")
        async with legacy as mcp:
            added = await mcp.call_tool("web__add", {"a": 2, "b": 3}, meta=meta)
            assert not added.is_error and "5" in added.content[0].text  # type: ignore[union-attr]
        http = create_mcp_http_client(headers=auth)
        async with Client(streamable_http_client(gw.url + "/mcp", http_client=http)) as mcp:
            failed = await mcp.call_tool("web__explode", {})
            assert failed.is_error

    asyncio.run(tools())


def _all_arrived(c: Collector) -> bool:
    names = {s.name for s in c.spans}
    wanted = {"chat traced", "chat up-1", "tools/call web__add", "tools/call web__explode"}
    counted = c.latest("gen_ai.client.inference.usage.input_tokens")
    served = c.latest("mcp.server.operation.duration")
    return (
        wanted <= names
        and len([s for s in c.spans if s.name == "chat up-1"]) == 2
        and sum(p.value for p in counted) == 2 * USAGE["prompt_tokens"]
        and sum(p.count for p in served) == 2
    )


def _summary(c: Collector) -> str:
    return (
        f"spans {sorted(s.name for s in c.spans)}; metrics {sorted({p.metric for p in c.points})}"
    )


def _spans(collector: Collector, name: str) -> list[Span]:
    return [s for s in collector.spans if s.name == name]


def _points(collector: Collector, metric: str) -> list[Point]:
    return collector.latest(metric)


# --- the checks ---------------------------------------------------------------------------------


def test_the_exporters_post_otlp_protobuf_to_the_standard_paths(exported):
    collector, _ = exported
    paths = {path for path, _ in collector.posts}
    assert paths == {"/v1/traces", "/v1/metrics"}
    assert {kind for _, kind in collector.posts} == {"application/x-protobuf"}
    assert {s.resource.get("service.name") for s in collector.spans} == {"switchyard"}


def test_gen_ai_system_is_gone_from_every_span(exported):
    collector, _ = exported
    assert collector.spans
    assert not [s.name for s in collector.spans if "gen_ai.system" in s.attributes]


def test_every_gen_ai_and_mcp_attribute_is_one_the_conventions_name(exported):
    collector, _ = exported
    known = INFERENCE_SPAN_ATTRIBUTES | MCP_SERVER_SPAN_ATTRIBUTES
    for span in collector.spans:
        ours = {k for k in span.attributes if k.split(".")[0] in ("gen_ai", "mcp")}
        assert ours <= known, (span.name, ours - known)


def test_an_upstream_attempt_is_the_client_inference_span(exported):
    collector, port = exported
    plain, streamed = _spans(collector, "chat up-1")  # "{operation} {request model}"
    for span in (plain, streamed):
        a = span.attributes
        assert span.kind == "CLIENT" and set(a) >= INFERENCE_REQUIRED
        assert a["gen_ai.operation.name"] == "chat" and a["gen_ai.provider.name"] == "openai"
        assert a["gen_ai.request.model"] == "up-1" and a["gen_ai.response.model"] == "up-1-0613"
        assert a["gen_ai.response.id"] == "chatcmpl-up-7"
        assert a["server.address"] == "127.0.0.1" and a["server.port"] == port
        # input counts every input token, the cached ones a part of it; output the
        # reasoning ones likewise
        assert a["gen_ai.usage.input_tokens"] == 40
        assert a["gen_ai.usage.cache_read.input_tokens"] == 30
        assert a["gen_ai.usage.output_tokens"] == 12
        assert a["gen_ai.usage.reasoning.output_tokens"] == 5
        assert "error.type" not in a and span.status == "UNSET"
    assert plain.attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert "gen_ai.request.stream" not in plain.attributes  # unset: not streaming
    assert streamed.attributes["gen_ai.response.finish_reasons"] == ("length",)
    assert streamed.attributes["gen_ai.request.stream"] is True
    assert streamed.attributes["gen_ai.response.time_to_first_chunk"] > 0


def test_the_request_span_is_the_callers_child_and_carries_the_answer(exported):
    collector, _ = exported
    requests = [s for s in collector.spans if s.kind == "SERVER" and s.name == "chat traced"]
    plain = next(s for s in requests if s.trace_id == TRACE_ID)
    assert plain.parent_id == CHAT_PARENT
    (attempt,) = [s for s in _spans(collector, "chat up-1") if s.parent_id == plain.span_id]
    a = plain.attributes
    assert a["gen_ai.provider.name"] == "openai" and a["gen_ai.request.model"] == "traced"
    assert a["gen_ai.response.model"] == "up-1-0613" and a["gen_ai.response.id"] == "chatcmpl-up-7"
    assert a["gen_ai.usage.input_tokens"] == 40 and a["gen_ai.usage.cache_read.input_tokens"] == 30
    assert a["gen_ai.usage.reasoning.output_tokens"] == 5
    assert attempt.trace_id == TRACE_ID


def test_an_mcp_tool_call_is_the_mcp_server_span(exported):
    collector, _ = exported
    (ok,) = _spans(collector, "tools/call web__add")  # "{mcp.method.name} {gen_ai.tool.name}"
    (failed,) = _spans(collector, "tools/call web__explode")
    for span in (ok, failed):
        a = span.attributes
        assert span.kind == "SERVER"
        assert a["mcp.method.name"] == "tools/call" and a["gen_ai.operation.name"] == "execute_tool"
        assert a["jsonrpc.request.id"] and a["mcp.protocol.version"]
        assert a["network.transport"] == "tcp" and a["network.protocol.name"] == "http"
    assert ok.attributes["gen_ai.tool.name"] == "web__add" and ok.status == "UNSET"
    # "when the request is part of a session": the handshake's revision has one, the
    # stateless revision none
    assert ok.attributes["mcp.session.id"] and "mcp.session.id" not in failed.attributes
    assert ok.attributes["mcp.protocol.version"] != failed.attributes["mcp.protocol.version"]
    # its parent is the trace context the client put in params._meta
    assert (ok.trace_id, ok.parent_id) == (TRACE_ID, MCP_PARENT)
    assert failed.attributes["error.type"] == "tool_error" and failed.status == "ERROR"


def test_every_metric_has_the_conventions_instrument_unit_and_buckets(exported):
    collector, _ = exported
    for name, (instrument, unit, buckets) in METRICS.items():
        points = _points(collector, name)
        assert points, name
        for point in points:
            assert (point.instrument, point.unit) == (instrument, unit), name
            if buckets is not None:
                assert list(point.bounds) == buckets, name
            if instrument == "sum":
                assert point.monotonic, name
    ours = {p.metric for p in collector.points if p.metric.startswith(("gen_ai.", "mcp."))}
    assert ours <= set(METRICS)


def test_the_token_counters_count_every_part_with_an_unknown_modality(exported):
    collector, port = exported
    expected = {
        "gen_ai.client.inference.usage.input_tokens": 80,
        "gen_ai.client.inference.usage.output_tokens": 24,
        "gen_ai.client.inference.usage.cache_read.input_tokens": 60,
        "gen_ai.client.inference.usage.cache_write.input_tokens": 0,
        "gen_ai.client.inference.usage.reasoning.output_tokens": 10,
    }
    for name, total in expected.items():
        (point,) = _points(collector, name)
        assert point.value == total, name
        assert set(point.attributes) <= USAGE_METRIC_ATTRIBUTES, name
        assert point.attributes["gen_ai.token.modality"] == "unknown"
        assert point.attributes["gen_ai.provider.name"] == "openai"
        assert point.attributes["server.port"] == port


def test_the_duration_and_token_histograms_count_each_operation(exported):
    collector, _ = exported
    (duration,) = _points(collector, "gen_ai.client.inference.duration")
    assert duration.count == 2 and duration.total > 0
    assert set(duration.attributes) <= GENAI_METRIC_ATTRIBUTES
    assert duration.attributes["gen_ai.response.model"] == "up-1-0613"
    (inputs,) = _points(collector, "gen_ai.client.inference.operation.input_tokens")
    assert (inputs.count, inputs.total) == (2, 80)
    (first,) = _points(collector, "gen_ai.client.inference.time_to_first_chunk")
    assert first.count == 1  # the stream only
    (served,) = _points(collector, "gen_ai.server.request.duration")
    assert served.count == 2 and served.attributes["gen_ai.request.model"] == "traced"
    (first_token,) = _points(collector, "gen_ai.server.time_to_first_token")
    assert first_token.count == 1
    tools = _points(collector, "mcp.server.operation.duration")
    assert {p.attributes.get("error.type") for p in tools} == {None, "tool_error"}
    for point in tools:
        assert set(point.attributes) <= MCP_METRIC_ATTRIBUTES
        assert point.attributes["mcp.method.name"] == "tools/call"
