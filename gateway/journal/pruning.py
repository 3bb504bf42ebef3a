"""Retention: logs (with their bodies) older than an age deleted in small batches, each
its own short transaction, then the parts of request bodies no log left can name
(``prune_parts``); the writer runs a round every hour, ``prune_logs`` on demand.
A round also runs the pruners other packages register (``gateway.base.hooks.pruners``),
so the journal imports nothing of the packages whose rows they delete.

Retention is a singleton: the writer of a process whose role runs it (``RETENTION_ROLES``:
``worker``, and ``all``) runs a round only while it holds the ``retention`` lease
(``gateway.base.leases.hold``), so of all the processes of all the instances one prunes
at a time, and never an API or console pod."""

from __future__ import annotations

from datetime import timedelta

from django.db import close_old_connections

from gateway.base import hooks, leases, process_role
from gateway.base.db_work import delete_in_batches, delete_older
from gateway.models import BodyBlob, RequestBody, RequestLog, RequestTag, SingletonLease, body_blobs

PRUNE_EVERY_SECONDS = 3600.0
PRUNE_FIRST_AFTER_SECONDS = 60.0
PRUNE_BATCH = 2000
PRUNE_BATCHES_PER_ROUND = 10  # then back to writing; the rest next round
RETENTION_ROLES = process_role.WORKER
LEASE_NAME = "retention"
# longer than a round (at most PRUNE_BATCHES_PER_ROUND batches); the holder extends it
# each round and keeps it between rounds, so the same process tends to prune
LEASE_SECONDS = 900.0


def prune(
    older_than: timedelta, batch_size: int = PRUNE_BATCH, max_batches: int | None = None
) -> int:
    """Delete logs (and their bodies) created more than ``older_than`` ago, in batches
    of ``batch_size`` rows, each its own short transaction. Returns rows deleted."""

    def delete(ids: list[int]) -> None:
        RequestBody.objects.filter(log_id__in=ids).delete()
        RequestTag.objects.filter(log_id__in=ids).delete()
        RequestLog.objects.filter(id__in=ids).delete()

    return delete_older(RequestLog.objects, older_than, batch_size, max_batches, delete)


def prune_parts(
    batch_size: int = PRUNE_BATCH, max_batches: int | None = None, now: float | None = None
) -> int:
    """Delete the parts of request bodies (``BodyBlob``) no log can name any more: those
    whose ``seen`` lies before ``body_blobs.prune_bound`` of the oldest log left (the
    fence: ``gateway.models.body_blobs``), in batches, each its own short transaction,
    the bound checked again by the DELETE itself; ``now``: this process's clock. Returns
    parts deleted."""

    oldest = RequestLog.objects.order_by("created_at").values_list("created_at", flat=True)
    first = oldest.first()
    bound = body_blobs.prune_bound(first.timestamp() if first is not None else None, now)
    old = BodyBlob.objects.filter(seen__lt=bound)

    def delete(hashes: list[str]) -> None:
        # the bound again: a writer may have brought a part's ``seen`` forward since
        BodyBlob.objects.filter(pk__in=hashes, seen__lt=bound).delete()

    return delete_in_batches(old, batch_size, max_batches, delete)


def prune_round(older_than: timedelta | None, max_batches: int) -> int:
    """Prune logs (None: kept forever) and the body parts none of the rest names, then
    ask every registered pruner (``hooks.pruners``: usage and spend rollups, audit
    events, stored Responses, each past its own retention); logs deleted."""
    close_old_connections()
    deleted = prune(older_than, max_batches=max_batches) if older_than else 0
    prune_parts(max_batches=max_batches)
    for pruner in hooks.pruners:
        pruner(max_batches)
    return deleted


def runs_here() -> bool:
    """Whether this process's role prunes (no database read: asked before every round)."""
    return process_role.runs(RETENTION_ROLES)


def prune_round_if_held(older_than: timedelta | None, max_batches: int) -> int:
    """``prune_round`` when this process holds the ``retention`` lease (taken or
    extended here), else nothing (another process prunes): logs deleted."""

    close_old_connections()
    if not leases.hold(SingletonLease, LEASE_NAME, LEASE_SECONDS):
        return 0
    return prune_round(older_than, max_batches)
