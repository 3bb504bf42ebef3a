"""The MCP feature's console pages (``gateway.web.pages.Page``): the servers (their
credentials, and tool calls run from the console: admins), each person's own OAuth
connections to servers that act for each person, and the sign-in page an MCP client
sends a person to. Composed into the console by ``console/urls.py``."""

from __future__ import annotations

from gateway.features.mcp import views
from gateway.features.mcp.oauth import views as oauth
from gateway.features.mcp.oauth_server import consent
from gateway.web.pages import Nav, Page, register

EDIT = "providers.edit"
CONNECT = "mcp.connect"
SERVERS = Nav("Access", "MCP", ("mcp",), order=20)
CONNECTIONS = Nav("Access", "MCP", ("mcp",), unless=EDIT, order=21)

register(
    # signing an MCP client in as oneself: whoever may see their keys (rule mcp.oauth.consent)
    Page("oauth/authorize/", consent.authorize, "mcp-oauth-authorize", read="keys.view"),
    # MCP servers: their credentials, and tool calls run from the console (admins)
    Page("mcp-servers/", views.mcp_list, "mcp", read=EDIT, nav=SERVERS),
    Page("mcp-servers/new/", views.mcp_create, "mcp-create", read=EDIT),
    Page("mcp-servers/<int:pk>/", views.mcp_edit, "mcp-edit", read=EDIT),
    *(
        Page(f"mcp-servers/<int:pk>/{action}/", view, f"mcp-{action}", read=EDIT)
        for action, view in (
            ("delete", views.mcp_delete),
            ("tools", views.mcp_tools),
            ("call", views.mcp_call),
        )
    ),
    # one's own OAuth connections to MCP servers (and the rule mcp.oauth.connect); the
    # servers' admins have the MCP link above instead
    Page("mcp-connections/", oauth.connections, "mcp-connections", read=CONNECT, nav=CONNECTIONS),
    Page("mcp-connections/callback/", oauth.callback, "mcp-oauth-callback", read=CONNECT),
    Page("mcp-connections/<int:pk>/connect/", oauth.connect, "mcp-connect", read=CONNECT),
    Page("mcp-connections/<int:pk>/disconnect/", oauth.disconnect, "mcp-disconnect", read=CONNECT),
)
