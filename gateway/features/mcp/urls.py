"""The MCP feature's URLs outside the console (``gateway.web.units``: included at the
root by ``gateway/server/urls.py``): its authorization server's machine endpoints,
``/.well-known/...`` and ``/oauth/...`` (``oauth_server.urls``)."""

from gateway.features.mcp.oauth_server.urls import urlpatterns as oauth_server

urlpatterns = [*oauth_server]
