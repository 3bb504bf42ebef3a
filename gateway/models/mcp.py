"""The MCP package's table, in the store (``gateway.models``)."""

from __future__ import annotations

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
    """An MCP session ended by its client (``DELETE /mcp``; ``gateway.mcp.sessions``): the
    session id is self-contained, so ending it is this record, which every worker and
    instance reads before serving the session again. Useless once the session would
    have expired anyway (``expires_at``), pruned then (``hooks.pruners``)."""

    session: str = models.CharField(max_length=32, unique=True)
    expires_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.session
