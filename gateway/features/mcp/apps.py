"""The MCP feature as a unit (``gateway.web.units``): ``Unit.register`` imports its
``rules`` and calls its ``plugin.register()``; its counter-service book."""

from __future__ import annotations

from gateway.web.units import Unit


class McpConfig(Unit):
    name = "gateway.features.mcp"
    label = "mcp"
    api_paths = ("mcp-servers",)  # /api/<each>/...
    verbose_name = "Switchyard MCP gateway"
    # the relayed requests' mailbox (imported by the counter service's process too)
    counter_books = ("gateway.features.mcp.mailbox_book",)
