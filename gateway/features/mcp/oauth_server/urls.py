"""The authorization server's machine endpoints (``views``), included by ``gateway.server.urls``."""

from django.urls import path

from gateway.features.mcp.oauth_server import views

urlpatterns = [
    path(
        ".well-known/oauth-protected-resource/mcp",
        views.protected_resource,
        name="mcp-oauth-resource",
    ),
    path(
        ".well-known/oauth-protected-resource/mcp/<str:server_name>",
        views.protected_resource,
        name="mcp-oauth-resource-server",
    ),
    path(
        ".well-known/oauth-authorization-server",
        views.authorization_server_metadata,
        name="mcp-oauth-metadata",
    ),
    path("oauth/register", views.register, name="mcp-oauth-register"),
    path("oauth/token", views.token, name="mcp-oauth-token"),
    path("oauth/revoke", views.revoke, name="mcp-oauth-revoke"),
]
