"""Leases on database rows, so that one process at a time runs a background job.

A job table has ``status``, ``runner`` (who holds it), ``lease_until`` and
``created_at`` columns and an ``UNFINISHED`` tuple of statuses. A process claims the
oldest unfinished job whose lease is free or expired with a compare-and-set on the
lease it read (two processes cannot both win it), renews the lease while it works, and
releases it when it stops; a process that dies simply lets its lease run out, and the
next claim resumes the job. Shared by the evaluations' runner (experiments, shadow
scoring) and the batch runner."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db.models import Model, Q
from django.utils import timezone


def claim(model: type[Model], runner_id: str, seconds: float, skip: Iterable[Any] = ()) -> Any:
    """Take one unfinished job of ``model`` (not one of ``skip``): its pk, or None."""
    now = timezone.now()
    unfinished = model.UNFINISHED
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    candidates = (
        model._default_manager.filter(free, status__in=unfinished)
        .exclude(pk__in=list(skip))
        .order_by("created_at", "id")
        .values_list("pk", "lease_until")[:5]
    )
    for pk, lease in candidates:
        same_lease = Q(lease_until__isnull=True) if lease is None else Q(lease_until=lease)
        taken = model._default_manager.filter(same_lease, pk=pk, status__in=unfinished).update(
            runner=runner_id, lease_until=now + timedelta(seconds=seconds)
        )
        if taken == 1:
            return pk
    return None


def renew(model: type[Model], pk: Any, runner_id: str, seconds: float) -> str | None:
    """Extend our lease; the job's status, or None when it is no longer ours."""
    until = timezone.now() + timedelta(seconds=seconds)
    if not model._default_manager.filter(pk=pk, runner=runner_id).update(lease_until=until):
        return None
    return str(model._default_manager.values_list("status", flat=True).get(pk=pk))


def release(model: type[Model], pk: Any, runner_id: str) -> None:
    model._default_manager.filter(pk=pk, runner=runner_id).update(runner="", lease_until=None)
