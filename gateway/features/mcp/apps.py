"""The MCP feature as a unit (``gateway.web.units``): installed by its line in
``INSTALLED_APPS``; what it plugs in is registered here, from ``GatewayConfig.ready``.
The feature's modules are imported inside ``register``: an app config module is loaded
before the tables are, and the feature's modules read them."""

from __future__ import annotations

from gateway.base import hooks
from gateway.web.units import Unit


class McpConfig(Unit):
    name = "gateway.features.mcp"
    label = "mcp"
    verbose_name = "Switchyard MCP gateway"
    # the relayed requests' mailbox (imported by the counter service's process too)
    counter_books = ("gateway.features.mcp.mailbox_book",)

    def register(self) -> None:
        from gateway.features.mcp import closing, plugin, rules  # noqa: F401 - rules register

        plugin.register()  # hosted MCP tools: the chat job's extra job; the pruners
        hooks.closers.register(closing.aclose_used)  # sessions and connections, if used
