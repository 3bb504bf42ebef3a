"""The MCP feature's console pages (``gateway.web.pages.Page``): the servers (their
credentials, and tool calls run from the console: admins), each person's own OAuth
connections to servers that act for each person, and the sign-in page an MCP client
sends a person to. Composed into the console by ``console/urls.py``."""

from __future__ import annotations

from gateway.features.mcp import views
from gateway.features.mcp.oauth import views as connections
from gateway.features.mcp.oauth_server import consent
from gateway.web.pages import Nav, Page, register

register(
    # signing an MCP client in as oneself: whoever may see their keys (rule mcp.oauth.consent)
    Page("oauth/authorize/", consent.authorize, "mcp-oauth-authorize", read="keys.view"),
    # MCP servers: their credentials, and tool calls run from the console (admins)
    Page(
        "mcp-servers/",
        views.mcp_list,
        "mcp",
        read="providers.edit",
        nav=Nav("Access", "MCP", ("mcp",), order=20),
    ),
    Page("mcp-servers/new/", views.mcp_create, "mcp-create", read="providers.edit"),
    Page("mcp-servers/<int:pk>/", views.mcp_edit, "mcp-edit", read="providers.edit"),
    Page("mcp-servers/<int:pk>/delete/", views.mcp_delete, "mcp-delete", read="providers.edit"),
    Page("mcp-servers/<int:pk>/tools/", views.mcp_tools, "mcp-tools", read="providers.edit"),
    Page("mcp-servers/<int:pk>/call/", views.mcp_call, "mcp-call", read="providers.edit"),
    # one's own OAuth connections to MCP servers (and the rule mcp.oauth.connect); the
    # servers' admins have the MCP link above instead
    Page(
        "mcp-connections/",
        connections.connections,
        "mcp-connections",
        read="mcp.connect",
        nav=Nav("Access", "MCP", ("mcp",), unless="providers.edit", order=21),
    ),
    Page(
        "mcp-connections/callback/",
        connections.callback,
        "mcp-oauth-callback",
        read="mcp.connect",
    ),
    Page(
        "mcp-connections/<int:pk>/connect/",
        connections.connect,
        "mcp-connect",
        read="mcp.connect",
    ),
    Page(
        "mcp-connections/<int:pk>/disconnect/",
        connections.disconnect,
        "mcp-disconnect",
        read="mcp.connect",
    ),
)
