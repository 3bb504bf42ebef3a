"""The A2A feature's console pages (``gateway.web.pages.Page``): the agents (their URLs
and tokens: owners and admins, as MCP servers). Composed into the console by
``console/urls.py``."""

from __future__ import annotations

from gateway.features.a2a import views
from gateway.web.pages import Nav, Page, register

EDIT = "providers.edit"
CONNECT = "mcp.connect"
AGENTS = Nav("Access", "Agents", ("a2a",), order=22)
CONNECTIONS = Nav("Access", "Agents", ("a2a-connections",), unless=EDIT, order=23)

register(
    Page("a2a-agents/", views.agent_list, "a2a", read=EDIT, nav=AGENTS),
    Page("a2a-agents/new/", views.agent_create, "a2a-create", read=EDIT),
    Page("a2a-agents/<int:pk>/", views.agent_edit, "a2a-edit", read=EDIT),
    Page("a2a-agents/<int:pk>/delete/", views.agent_delete, "a2a-delete", read=EDIT),
    Page("a2a-agents/<int:pk>/refresh/", views.agent_refresh, "a2a-refresh", read=EDIT),
    # one's own OAuth connections to agents with auth "oauth" (rule a2a.oauth.connect)
    Page("a2a-connections/", views.connections, "a2a-connections", read=CONNECT, nav=CONNECTIONS),
    Page("a2a-connections/<int:pk>/connect/", views.connect, "a2a-connect", read=CONNECT),
    Page("a2a-connections/<int:pk>/disconnect/", views.disconnect, "a2a-disconnect", read=CONNECT),
)
