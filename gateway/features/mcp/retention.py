"""What the journal's retention round deletes for MCP (``hooks.pruners``, registered by
``gateway.features.mcp.plugin``): the ends of sessions past their expiry, the sign-in's spent
codes, dead tokens and unused registrations, and upstream OAuth authorizations nobody
came back from, and the bindings of tasks past their server's ``ttlMs`` (or, with none,
past the journal's retention).

Only the models and ``db_work`` here: a round runs in one worker of every deployment,
MCP used or not, and the modules that serve these rows bring the MCP SDK's types,
pydantic, Authlib and joserfc with them (14 MB of that worker when the round imported
them)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import transaction
from django.utils import timezone

from gateway.base import db_work
from gateway.models.mcp import (
    McpAccessToken,
    McpAuthorizationCode,
    McpOAuthClient,
    McpOAuthState,
    McpSessionEnd,
    McpTask,
)

UNUSED_CLIENT_DAYS = 30  # a sign-in registration that never got a token is dropped after this


def prune_ended_sessions(max_batches: int) -> int:
    """Ends of sessions that have expired since (their token no longer opens)."""

    past = McpSessionEnd.objects.filter(expires_at__lte=datetime.now(UTC))
    return db_work.delete_in_batches(past, 1000, max_batches)


def prune_sign_in(max_batches: int) -> int:
    """Rows of the MCP sign-in of no further use: codes past their expiry (a day later,
    so a late replay still finds the code and revokes its tokens), tokens whose access
    and refresh both expired (or were revoked) a day ago, and registrations a month old
    that never got a token (anyone may register: this keeps the table from growing
    without end)."""

    day_ago = timezone.now() - timedelta(days=1)
    deleted = db_work.delete_in_batches(
        McpAuthorizationCode.objects.filter(expires_at__lte=day_ago), 1000, max_batches
    )
    dead = McpAccessToken.objects.filter(expires_at__lte=day_ago).exclude(
        refresh_expires_at__gt=day_ago, revoked_at__isnull=True
    )
    deleted += db_work.delete_in_batches(dead, 1000, max_batches)
    stale = McpOAuthClient.objects.filter(
        created_at__lte=timezone.now() - timedelta(days=UNUSED_CLIENT_DAYS), tokens__isnull=True
    )
    deleted += db_work.delete_in_batches(stale, 1000, max_batches)
    return deleted


def prune_pending_authorizations(max_batches: int) -> int:
    """Upstream OAuth authorizations that expired unused."""

    with transaction.atomic():
        deleted, _ = McpOAuthState.objects.filter(expires_at__lt=timezone.now()).delete()
    return int(deleted)


def prune_tasks(max_batches: int) -> int:
    """Bindings of tasks (``McpTask``) a day past the expiry their server gave them,
    and those with none once older than the journal keeps its rows
    (``SWITCHYARD_LOG_RETENTION_DAYS``; 0 keeps them). Asked for again, such a task
    is unknown, as the server may have dropped it too."""
    from django.conf import settings

    now = timezone.now()
    deleted = db_work.delete_in_batches(
        McpTask.objects.filter(expires_at__lte=now - timedelta(days=1)), 1000, max_batches
    )
    days = int(getattr(settings, "SWITCHYARD_LOG_RETENTION_DAYS", 0) or 0)
    if days > 0:
        old = McpTask.objects.filter(
            expires_at__isnull=True, created_at__lt=now - timedelta(days=days)
        )
        deleted += db_work.delete_in_batches(old, 1000, max_batches)
    return deleted
