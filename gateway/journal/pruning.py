"""Retention: logs (with their bodies) older than an age deleted in small batches, each
its own short transaction; the writer runs a round every hour, ``prune_logs`` on demand.
A round also runs the pruners other packages register (``gateway.base.hooks.pruners``),
so the journal imports nothing of the packages whose rows they delete."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.db import close_old_connections

from gateway.base import hooks
from gateway.base.db_work import delete_in_batches

PRUNE_EVERY_SECONDS = 3600.0
PRUNE_FIRST_AFTER_SECONDS = 60.0
PRUNE_BATCH = 2000
PRUNE_BATCHES_PER_ROUND = 10  # then back to writing; the rest next round


def prune(
    older_than: timedelta, batch_size: int = PRUNE_BATCH, max_batches: int | None = None
) -> int:
    """Delete logs (and their bodies) created more than ``older_than`` ago, in batches
    of ``batch_size`` rows, each its own short transaction. Returns rows deleted."""
    from gateway.models import RequestBody, RequestLog

    def delete(ids: list[int]) -> None:
        RequestBody.objects.filter(log_id__in=ids).delete()
        RequestLog.objects.filter(id__in=ids).delete()

    old = RequestLog.objects.filter(created_at__lt=datetime.now(UTC) - older_than)
    return delete_in_batches(old, batch_size, max_batches, delete)


def prune_round(older_than: timedelta | None, max_batches: int) -> int:
    """Prune logs (None: kept forever), then ask every registered pruner
    (``hooks.pruners``: usage and spend rollups, audit events, stored Responses, each
    past its own retention); logs deleted."""
    close_old_connections()
    deleted = prune(older_than, max_batches=max_batches) if older_than else 0
    for pruner in hooks.pruners:
        pruner(max_batches)
    return deleted
