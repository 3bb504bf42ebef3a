"""The MCP gateway: registered MCP servers reached through one process-wide pool of
client sessions (``pool``: connected once, reused, reconnected; stdio servers started on
first use and supervised), the permissions of virtual keys (``permissions``), and the
aggregated MCP server at ``/mcp`` and ``/mcp/<server>`` (``endpoint``) whose every tool
call is limited, journaled, counted and traced (``calls``). Hosted MCP tools inside model
requests live in ``hosted/`` and call the pool the same way. Both run the pre_mcp_call
guardrails on a call's arguments and result (``guarded``, through ``base.hooks``).

Errors: ``errors.McpGatewayError`` and its subclasses, each with a JSON-RPC code and a
message safe to show (never a header, token or env value)."""
