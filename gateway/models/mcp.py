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
