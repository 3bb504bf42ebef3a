"""The OpenTelemetry names Switchyard emits, each from the GenAI semantic conventions
(status Development: names may still change; this module is the one place to follow
them). No code here: constants only, read by ``tracing`` and ``genai_metrics``.

Source: the repository ``open-telemetry/semantic-conventions-genai`` (the GenAI and MCP
conventions moved there from ``open-telemetry/semantic-conventions`` after v1.41.0):

- ``docs/gen-ai/client-inference.md`` @ 024a4f94: the ``gen_ai.client.inference`` span
  (CLIENT, named ``{gen_ai.operation.name} {gen_ai.request.model}``) and its attributes;
  the metrics ``gen_ai.client.inference.duration`` and
  ``gen_ai.client.inference.time_to_first_chunk`` (renamed from
  ``gen_ai.client.operation.duration`` / ``.time_to_first_chunk`` for inference, PR #521).
- ``docs/gen-ai/gen-ai-token-metrics.md`` @ 066d4a7f and
  ``docs/gen-ai/non-normative/migration.md`` @ 32c328e8: ``gen_ai.client.token.usage``
  and its ``gen_ai.token.type`` were removed (PR #374) for the counters
  ``gen_ai.client.inference.usage.{input_tokens, output_tokens,
  cache_read.input_tokens, cache_write.input_tokens, reasoning.output_tokens}`` (each
  with ``gen_ai.token.modality``, ``unknown`` when the provider gives no breakdown) and
  the per-operation histograms ``gen_ai.client.inference.operation.{input,output}_tokens``
  (not recorded for failed operations: changelog fragment
  ``+token-histograms-failed.clarification.md``, #530); the span attribute
  ``gen_ai.usage.cache_creation.input_tokens`` became
  ``gen_ai.usage.cache_write.input_tokens`` (PR #440).
- ``docs/gen-ai/gen-ai-metrics.md`` @ 004902b8: ``gen_ai.server.request.duration``,
  ``gen_ai.server.time_to_first_token`` and ``gen_ai.execute_tool.duration``, with the
  bucket boundaries below.
- ``docs/gen-ai/mcp.md`` @ 0393513c: MCP spans (``{mcp.method.name} {target}``, SERVER
  on the server, CLIENT on the client; ``error.type`` ``tool_error`` for a
  ``CallToolResult`` with ``isError``; trace context in ``params._meta``) and
  ``mcp.server.operation.duration`` / ``mcp.client.operation.duration``.
- ``model/a2a/spans.yaml`` @ 56d4b9f7, ``model/a2a/registry.yaml`` @ 7d3789ae,
  ``model/a2a/common.yaml`` @ 731f29ce: A2A spans named ``{a2a.method.name}``.
- ``gen_ai.system`` is deprecated for ``gen_ai.provider.name`` (registry, both repos):
  Switchyard sends only the latter.
"""

from __future__ import annotations

from typing import Final

# --- span and metric attributes -------------------------------------------------------------

OPERATION: Final = "gen_ai.operation.name"
PROVIDER: Final = "gen_ai.provider.name"
REQUEST_MODEL: Final = "gen_ai.request.model"
REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
REQUEST_TOP_P: Final = "gen_ai.request.top_p"
REQUEST_TOP_K: Final = "gen_ai.request.top_k"
REQUEST_STOP: Final = "gen_ai.request.stop_sequences"
REQUEST_CHOICES: Final = "gen_ai.request.choice.count"
REQUEST_STREAM: Final = "gen_ai.request.stream"  # set only when true ("unset: not streaming")
RESPONSE_ID: Final = "gen_ai.response.id"
RESPONSE_MODEL: Final = "gen_ai.response.model"
FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"  # seconds, streams
USAGE_INPUT: Final = "gen_ai.usage.input_tokens"  # all input, cached included
USAGE_OUTPUT: Final = "gen_ai.usage.output_tokens"  # all output, reasoning included
USAGE_CACHE_READ: Final = "gen_ai.usage.cache_read.input_tokens"  # part of USAGE_INPUT
USAGE_CACHE_WRITE: Final = "gen_ai.usage.cache_write.input_tokens"  # part of USAGE_INPUT
USAGE_REASONING: Final = "gen_ai.usage.reasoning.output_tokens"  # part of USAGE_OUTPUT
TOKEN_MODALITY: Final = "gen_ai.token.modality"
TOOL_NAME: Final = "gen_ai.tool.name"
TOOL_TYPE: Final = "gen_ai.tool.type"
CONVERSATION_ID: Final = "gen_ai.conversation.id"
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
CLIENT_ADDRESS: Final = "client.address"
NETWORK_PROTOCOL: Final = "network.protocol.name"
NETWORK_TRANSPORT: Final = "network.transport"
MCP_METHOD: Final = "mcp.method.name"
MCP_SESSION: Final = "mcp.session.id"
MCP_PROTOCOL_VERSION: Final = "mcp.protocol.version"
JSONRPC_REQUEST_ID: Final = "jsonrpc.request.id"
RPC_STATUS: Final = "rpc.response.status_code"
A2A_METHOD: Final = "a2a.method.name"

# --- well-known values ------------------------------------------------------------------------

EXECUTE_TOOL: Final = "execute_tool"
TOOL_CALL: Final = "tools/call"  # mcp.method.name of a tool call
TOOL_ERROR: Final = "tool_error"  # error.type of a CallToolResult with isError
UNKNOWN_MODALITY: Final = "unknown"  # no per-modality breakdown from the provider
EXTENSION_TOOL: Final = "extension"  # gen_ai.tool.type: run by the agent side (the gateway)
FINISH_ERROR: Final = "error"  # a finish reason expected but not received

# --- metrics: (name, unit, bucket boundaries; None for counters) ----------------------------

DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)  # fmt: skip
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)  # fmt: skip
FIRST_TOKEN_BUCKETS: Final = (
    0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
MCP_BUCKETS: Final = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)

Metric = tuple[str, str, tuple[float, ...] | None]


def tokens(name: str, buckets: tuple[float, ...] | None = None) -> Metric:
    """A metric counting tokens: a counter, or with ``buckets`` a histogram."""
    return (name, "{token}", buckets)


def seconds(name: str, buckets: tuple[float, ...]) -> Metric:
    """A histogram of durations in seconds."""
    return (name, "s", buckets)


INFERENCE_DURATION: Final = seconds("gen_ai.client.inference.duration", DURATION_BUCKETS)
INFERENCE_FIRST_CHUNK: Final = seconds(
    "gen_ai.client.inference.time_to_first_chunk", DURATION_BUCKETS
)
USAGE_INPUT_TOKENS: Final = tokens("gen_ai.client.inference.usage.input_tokens")
USAGE_OUTPUT_TOKENS: Final = tokens("gen_ai.client.inference.usage.output_tokens")
USAGE_CACHE_READ_TOKENS: Final = tokens("gen_ai.client.inference.usage.cache_read.input_tokens")
USAGE_CACHE_WRITE_TOKENS: Final = tokens("gen_ai.client.inference.usage.cache_write.input_tokens")
USAGE_REASONING_TOKENS: Final = tokens("gen_ai.client.inference.usage.reasoning.output_tokens")
OPERATION_INPUT_TOKENS: Final = tokens(
    "gen_ai.client.inference.operation.input_tokens", TOKEN_BUCKETS
)
OPERATION_OUTPUT_TOKENS: Final = tokens(
    "gen_ai.client.inference.operation.output_tokens", TOKEN_BUCKETS
)
SERVER_DURATION: Final = seconds("gen_ai.server.request.duration", DURATION_BUCKETS)
SERVER_FIRST_TOKEN: Final = seconds("gen_ai.server.time_to_first_token", FIRST_TOKEN_BUCKETS)
TOOL_DURATION: Final = seconds("gen_ai.execute_tool.duration", DURATION_BUCKETS)
MCP_SERVER_DURATION: Final = seconds("mcp.server.operation.duration", MCP_BUCKETS)
MCP_CLIENT_DURATION: Final = seconds("mcp.client.operation.duration", MCP_BUCKETS)
