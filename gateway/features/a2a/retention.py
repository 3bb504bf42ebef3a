"""What the journal's retention round deletes for A2A (``hooks.pruners``): the bindings
of tasks older than the journal keeps its rows (``SWITCHYARD_LOG_RETENTION_DAYS``; 0
keeps them). A task past it is one nobody follows any more; asked for again, it is a
task the key never started (not found), as its journal rows are gone too; an agent's
context mapped back to its caller's session (``A2aContext``) goes alike."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from gateway.base import db_work
from gateway.models import A2aContext, A2aTask


def prune_tasks(max_batches: int) -> int:
    days = int(getattr(settings, "SWITCHYARD_LOG_RETENTION_DAYS", 0) or 0)
    if days <= 0:
        return 0
    since = timezone.now() - timedelta(days=days)
    pruned = db_work.delete_in_batches(
        A2aTask.objects.filter(created_at__lt=since), 1000, max_batches
    )
    mapped = A2aContext.objects.filter(created_at__lt=since)
    return pruned + db_work.delete_in_batches(mapped, 1000, max_batches)
