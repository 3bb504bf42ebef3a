"""Leases on database rows, so that one process at a time runs a background job.

A job table has ``status``, ``runner`` (who holds it), ``lease_until`` and
``created_at`` columns and an ``UNFINISHED`` tuple of statuses. A process claims the
oldest unfinished job whose lease is free or expired with a compare-and-set on the
lease it read (two processes cannot both win it), renews the lease while it works, and
releases it when it stops; a process that dies simply lets its lease run out, and the
next claim resumes the job. Shared by the evaluations' runner (experiments, shadow
scoring) and the batch runner.

A singleton job (retention pruning) has no job row: it holds a named lease instead
(``hold``: a row of ``gateway.models.SingletonLease``), taken and extended the same
way, so one process of all the instances runs it at a time."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
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


def unfinished_among(models: Iterable[type[Model]]) -> list[bool]:
    """Whether each of ``models`` has an unfinished job (one ``claim`` could take, or
    one held by a live runner), all in one query: what a dormant runner is started on
    (``hooks.BackgroundTask.jobs``)."""
    models = list(models)
    if not models:
        return []
    from django.db import connection

    quote = connection.ops.quote_name
    parts: list[str] = []
    params: list[Any] = []
    for model in models:
        statuses = [str(status) for status in model.UNFINISHED]
        column = model._meta.get_field("status").column
        marks = ", ".join(["%s"] * len(statuses))
        parts.append(
            f"EXISTS(SELECT 1 FROM {quote(model._meta.db_table)} "
            f"WHERE {quote(column)} IN ({marks}))"
        )
        params += statuses
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    return [bool(found) for found in row]


def renew(model: type[Model], pk: Any, runner_id: str, seconds: float) -> str | None:
    """Extend our lease; the job's status, or None when it is no longer ours."""
    until = timezone.now() + timedelta(seconds=seconds)
    if not model._default_manager.filter(pk=pk, runner=runner_id).update(lease_until=until):
        return None
    return str(model._default_manager.values_list("status", flat=True).get(pk=pk))


def release(model: type[Model], pk: Any, runner_id: str) -> None:
    model._default_manager.filter(pk=pk, runner=runner_id).update(runner="", lease_until=None)


# --- named leases: one runner at a time for a singleton job (a lease table's row) ------
# A lease table has ``name`` (the primary key), ``runner`` and ``lease_until`` (not null).

PROCESS_ID = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def take_free(model: type[Model], name: str, seconds: float) -> bool:
    """Take the lease ``name`` for ``seconds`` only when nobody holds it, this process
    included: a round run once a lease (a daily one), the lease never extended."""
    if model._default_manager.filter(pk=name, lease_until__gt=timezone.now()).exists():
        return False
    return hold(model, name, seconds)


def hold(model: type[Model], name: str, seconds: float, runner_id: str = PROCESS_ID) -> bool:
    """Take the lease ``name`` for ``seconds``, or extend it when it is ours already:
    True when ``runner_id`` holds it now. A compare-and-set, as ``claim``: the UPDATE
    takes the row only while it is ours or expired (PostgreSQL re-checks that condition
    on the row a concurrent winner just wrote), the INSERT the first time only."""
    now = timezone.now()
    until = now + timedelta(seconds=seconds)
    ours_or_free = Q(runner=runner_id) | Q(lease_until__lt=now)
    manager = model._default_manager
    if manager.filter(ours_or_free, pk=name).update(runner=runner_id, lease_until=until):
        return True
    try:
        with transaction.atomic():
            manager.create(pk=name, runner=runner_id, lease_until=until)
    except IntegrityError:  # someone holds it (or made it a moment ago)
        return False
    return True
