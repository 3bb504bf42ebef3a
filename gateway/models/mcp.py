"""The MCP package's table, in the store (``gateway.models``)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class McpApprovalUse(models.Model):
    """An approval of a hosted MCP tool call that was honoured (``hosted/approvals``):
    its approval request's nonce, so that the same approval never runs a call twice,
    on any worker or instance. Rows are useless once the request expired (``expires_at``)
    and are pruned then."""

    nonce: str = models.CharField(max_length=32, primary_key=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.nonce


class McpSessionEnd(models.Model):
    """An MCP session ended by its client (``DELETE /mcp``; ``gateway.features.mcp.sessions``): the
    session id is self-contained, so ending it is this record, which every worker and
    instance reads before serving the session again. Useless once the session would
    have expired anyway (``expires_at``), pruned then (``hooks.pruners``)."""

    session: str = models.CharField(max_length=32, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.session


class McpUpstreamClient(models.Model):
    """The OAuth client the gateway is at a server's authorization server: what dynamic
    client registration answered (or the pre-registered client id), bound to the issuer
    it was registered with (another issuer registers anew). The secret is sealed."""

    server = models.OneToOneField(
        "gateway.McpServer", on_delete=models.CASCADE, related_name="oauth_client"
    )
    issuer = models.CharField(max_length=500)
    client_id = models.CharField(max_length=300)
    client_secret_ciphertext = models.TextField(blank=True)
    token_endpoint_auth_method = models.CharField(max_length=40, blank=True)
    redirect_uri = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.server_id}:{self.client_id}"


class McpOAuthToken(models.Model):
    """One person's tokens for one server (``user`` null: the server's service token,
    client credentials). Both tokens are sealed (``base.secrets.crypto``); ``expires_at``
    is when the access token stops working (null: the server did not say)."""

    server = models.ForeignKey(
        "gateway.McpServer", on_delete=models.CASCADE, related_name="oauth_tokens"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE
    )
    access_token_ciphertext = models.TextField()
    refresh_token_ciphertext = models.TextField(blank=True)
    token_type = models.CharField(max_length=40, default="Bearer")
    expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=500, blank=True)
    issuer = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["server", "user"], name="mcp_oauth_token_one_per_user"),
            models.UniqueConstraint(
                fields=["server"],
                condition=models.Q(user__isnull=True),
                name="mcp_oauth_token_one_service",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.server_id}:{self.user_id or 'service'}"


class McpOAuthState(models.Model):
    """An authorization under way (the browser went to the authorization server): the
    ``state`` sent (kept as its SHA-256: the row alone cannot complete a flow), who
    started it, the PKCE verifier (sealed), the redirect URI used. Single use: the
    callback deletes it before anything else; useless after ``expires_at``, pruned."""

    state_hash = models.CharField(max_length=64, unique=True)
    server = models.ForeignKey("gateway.McpServer", on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    verifier_ciphertext = models.TextField()
    redirect_uri = models.CharField(max_length=500)
    issuer = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.server_id}:{self.user_id}"
