"""Telemetry: what the gateway tells about itself and its traffic.

``attribution`` (who a request's spend is for: end user and session), ``spend`` (spend
rollups and the one spend query of the console and ``/api/spend``) and ``audit`` (the
append-only trail of changes and logins); ``tracing`` and ``genai_metrics`` (OpenTelemetry
spans and metrics in the GenAI and MCP semantic conventions, whose names ``semconv``
holds with their source; ``tracing.start_operation`` is the hook a feature makes its
MCP or A2A spans with)."""
