"""The MCP feature's tables, in the store (``gateway.models``; its servers,
``McpServer``, are a registry table in ``gateway.models``): hosted calls' approvals,
ended sessions, the gateway as an OAuth client of upstream MCP servers, and, below, the
gateway as the OAuth authorization server of its own ``/mcp``."""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import models
from django.utils import timezone


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


class McpTask(models.Model):
    """A task an upstream MCP server answered a ``tools/call`` with (the tasks extension,
    ``io.modelcontextprotocol/tasks``; ``gateway.features.mcp.tasks``): the id the
    gateway gave the client in its place (``task_id``, random), the server and the
    server's own id, and the key (and its team) that started it. ``tasks/get``,
    ``tasks/update`` and ``tasks/cancel`` of any other key, through any worker or
    instance, find no such task. Pruned after ``expires_at`` (the server's ``ttlMs``),
    or, without one, with the journal's rows."""

    task_id: str = models.CharField(max_length=64, unique=True)
    server = models.ForeignKey("gateway.McpServer", on_delete=models.CASCADE, related_name="tasks")
    upstream_task_id: str = models.CharField(max_length=300)
    key_id = models.IntegerField(null=True)  # None: the master key
    team_id = models.IntegerField(null=True, blank=True)
    tool: str = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return self.task_id


def _target(field: Any, model: str, related_name: str) -> Any:
    """A server or an agent an OAuth row is for (``_one_target``: one of the two), gone
    with it."""
    return field(model, null=True, blank=True, on_delete=models.CASCADE, related_name=related_name)


def _one_target(name: str) -> models.CheckConstraint:
    """An OAuth row is an MCP server's or an A2A agent's: exactly one of the two."""
    return models.CheckConstraint(
        condition=models.Q(server__isnull=False, agent__isnull=True)
        | models.Q(server__isnull=True, agent__isnull=False),
        name=name,
    )


class McpUpstreamClient(models.Model):
    """The OAuth client the gateway is at a server's authorization server: what dynamic
    client registration answered (or the pre-registered client id), bound to the issuer
    it was registered with (another issuer registers anew). The secret is sealed."""

    server = _target(models.OneToOneField, "gateway.McpServer", "oauth_client")
    # or an A2A agent's (``auth`` "oauth"): every OAuth row names one server or one agent
    agent = _target(models.OneToOneField, "gateway.A2aAgent", "oauth_client")
    issuer = models.CharField(max_length=500)
    client_id = models.CharField(max_length=300)
    client_secret_ciphertext = models.TextField(blank=True)
    token_endpoint_auth_method = models.CharField(max_length=40, blank=True)
    redirect_uri = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [_one_target("oauth_client_one_target")]

    def __str__(self) -> str:
        return f"{self.server_id or self.agent_id}:{self.client_id}"


class McpOAuthToken(models.Model):
    """One person's tokens for one server (``user`` null: the server's service token,
    client credentials). Both tokens are sealed (``base.secrets.crypto``); ``expires_at``
    is when the access token stops working (null: the server did not say)."""

    server = _target(models.ForeignKey, "gateway.McpServer", "oauth_tokens")
    # or an A2A agent's (never both, never neither)
    agent = _target(models.ForeignKey, "gateway.A2aAgent", "oauth_tokens")
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
            models.UniqueConstraint(
                fields=["agent", "user"], name="oauth_token_one_per_agent_user"
            ),
            _one_target("oauth_token_one_target"),
        ]

    def __str__(self) -> str:
        return f"{self.server_id or self.agent_id}:{self.user_id or 'service'}"


class McpOAuthState(models.Model):
    """An authorization under way (the browser went to the authorization server): the
    ``state`` sent (kept as its SHA-256: the row alone cannot complete a flow), who
    started it, the PKCE verifier (sealed), the redirect URI used. Single use: the
    callback deletes it before anything else; useless after ``expires_at``, pruned."""

    state_hash = models.CharField(max_length=64, unique=True)
    server = models.ForeignKey("gateway.McpServer", null=True, blank=True, on_delete=models.CASCADE)
    agent = models.ForeignKey("gateway.A2aAgent", null=True, blank=True, on_delete=models.CASCADE)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    verifier_ciphertext = models.TextField()
    redirect_uri = models.CharField(max_length=500)
    issuer = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [_one_target("oauth_state_one_target")]

    def __str__(self) -> str:
        return f"{self.server_id or self.agent_id}:{self.user_id}"


# --- the gateway as an OAuth authorization server for /mcp --------------------------------
#
# The tables of the gateway as an OAuth authorization server for ``/mcp``
# (``gateway.features.mcp.oauth_server``): the MCP clients that registered themselves (RFC 7591),
# the authorization codes a consent issued, and the tokens. Not to be confused with the
# gateway as an OAuth *client* of upstream MCP servers.
#
# Codes and tokens are kept only as SHA-256 hashes (as virtual keys are): a copy of the
# database opens nothing. The rows implement the methods of Authlib's model mixins
# (``ClientMixin``, ``AuthorizationCodeMixin``, ``TokenMixin``), so Authlib's grants read
# them directly; they do not inherit the mixins, which would import Authlib in every
# process at start (``tests/gateway/test_worker_imports.py``).

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})


def token_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _without_port(uri: str) -> tuple[str, ...] | None:
    """A loopback ``http`` redirect URI with its port left out (RFC 8252 section 7.3: a
    native client picks its port when it starts), or None for any other URI."""
    parts = urlsplit(uri)
    if parts.scheme != "http" or (parts.hostname or "") not in LOOPBACK_HOSTS:
        return None
    return (parts.scheme, parts.hostname or "", parts.path, parts.query)


class McpOAuthClient(models.Model):
    """An MCP client (Claude Code, the MCP Inspector, an IDE) registered through
    ``/oauth/register``: a public client (no secret: PKCE protects its codes) with its
    exact redirect URIs; or one known by its Client ID Metadata Document, whose
    ``client_id`` is the document's https URL (``oauth_server.metadata_documents``:
    fetched under the SSRF rules, kept for ``metadata_fetched_at`` plus the cache time).
    """

    client_id: str = models.CharField(max_length=500, unique=True)
    client_name: str = models.CharField(max_length=200, blank=True)
    client_uri: str = models.CharField(max_length=500, blank=True)
    redirect_uris = models.JSONField(default=list)
    grant_types = models.JSONField(default=list)
    response_types = models.JSONField(default=list)
    scope: str = models.CharField(max_length=200, blank=True)
    software_id: str = models.CharField(max_length=200, blank=True)
    software_version: str = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # a Client ID Metadata Document's client: when the document was last fetched
    metadata_fetched_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return self.client_name or self.client_id

    @property
    def display_name(self) -> str:
        if self.client_name:
            return self.client_name
        if self.metadata_fetched_at is not None:  # its id is its document's URL
            return f"an unnamed MCP client of {urlsplit(self.client_id).netloc}"
        return f"an unnamed MCP client ({self.client_id[:8]}…)"

    # --- Authlib's ClientMixin ------------------------------------------------------------
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        uris = list(self.redirect_uris or ())
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        from authlib.oauth2.rfc6749 import list_to_scope, scope_to_list

        allowed = set(scope_to_list(self.scope or "")) if self.scope else None
        wanted = scope_to_list(scope) if scope else []
        if allowed is None:
            return str(list_to_scope(wanted))
        return str(list_to_scope([s for s in wanted if s in allowed]))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        """Exactly one of the registered URIs; a loopback ``http`` one on any port."""
        registered = list(self.redirect_uris or ())
        if redirect_uri in registered:
            return True
        loose = _without_port(redirect_uri)
        return loose is not None and any(_without_port(u) == loose for u in registered)

    def check_client_secret(self, client_secret: str) -> bool:
        return False  # public clients have none

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type in (self.response_types or ["code"])

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in (self.grant_types or ["authorization_code", "refresh_token"])


class McpAuthorizationCode(models.Model):
    """A code the consent page issued: bound to the client, the redirect URI, the PKCE
    challenge, the resource (RFC 8707) and the user with the key they act through. Spent
    once (``used_at``); a second use revokes the tokens the first one got."""

    code_hash: str = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(McpOAuthClient, on_delete=models.CASCADE, related_name="codes")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    # the managed key the tokens act through (``oauth_server.identity``): user and team
    api_key = models.ForeignKey("gateway.ApiKey", on_delete=models.CASCADE, related_name="+")
    redirect_uri: str = models.CharField(max_length=1000)
    scope: str = models.CharField(max_length=200, blank=True)
    resource: str = models.CharField(max_length=1000)
    code_challenge: str = models.CharField(max_length=128)
    code_challenge_method: str = models.CharField(max_length=10, default="S256")
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"code for {self.client_id} ({self.code_hash[:8]})"

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return bool(self.expires_at <= timezone.now())


class McpAccessToken(models.Model):
    """An access token (short-lived) and its refresh token, issued to a client for a
    user acting through ``api_key``, for ``resource``. A refresh spends the refresh
    token (rotation: the new pair shares ``family``); a rotated refresh token used again
    revokes the whole family."""

    access_hash: str = models.CharField(max_length=64, unique=True)
    refresh_hash = models.CharField(max_length=64, unique=True, null=True, blank=True)
    client = models.ForeignKey(McpOAuthClient, on_delete=models.CASCADE, related_name="tokens")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    api_key = models.ForeignKey("gateway.ApiKey", on_delete=models.CASCADE, related_name="+")
    code = models.ForeignKey(
        McpAuthorizationCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    family: str = models.CharField(max_length=32, db_index=True)
    scope: str = models.CharField(max_length=200, blank=True)
    resource: str = models.CharField(max_length=1000)
    issued_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(db_index=True)
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"token of {self.user_id} for {self.client_id} ({self.access_hash[:8]})"

    # --- Authlib's TokenMixin -------------------------------------------------------------
    def check_client(self, client: Any) -> bool:
        return bool(self.client_id == getattr(client, "pk", None))

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int((self.expires_at - self.issued_at).total_seconds()))

    def is_expired(self) -> bool:
        return bool(self.expires_at <= timezone.now())

    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    @property
    def refresh_usable(self) -> bool:
        now = timezone.now()
        return (
            self.revoked_at is None
            and self.refresh_used_at is None
            and self.refresh_expires_at is not None
            and self.refresh_expires_at > now
        )
