"""The MCP gateway: registered MCP servers reached through one process-wide pool of
client sessions (``pool``: connected once, reused, reconnected; stdio servers started on
first use and supervised), the permissions of virtual keys (``permissions``), and the
aggregated MCP server at ``/mcp`` and ``/mcp/<server>`` (``endpoint``) whose every tool
call is limited, journaled, counted and traced (``calls``). Hosted MCP tools inside model
requests live in ``hosted/`` and call the pool the same way. Both run the pre_mcp_call
guardrails on a call's arguments and result (``guarded``, through ``base.hooks``).

Errors: ``errors.McpGatewayError`` and its subclasses, each with a JSON-RPC code and a
message safe to show (never a header, token or env value).

The unit's public door for the rest of the gateway is this module (``allow_list_warnings``);
its pages, router, LiteLLM section and rules are composed by the shells
(``gateway.web.units``), never imported by name."""

from __future__ import annotations


async def allow_list_warnings(allowed: list[str]) -> list[str]:
    """What a key's or team's MCP allow-list (``mcp_allowed``) names that does not exist,
    one sentence each (``allow_list_check``): the keys page warns of it when it saves."""
    # imported here: this package's __init__ stays free of Django (the counter service
    # imports ``mailbox_book`` without it), and the check reads the tables
    from gateway.features.mcp import allow_list_check

    return await allow_list_check.warnings(allowed)
