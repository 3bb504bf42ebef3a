"""The ledger of one budget across regions (``gateway.limits.budget_ledger``) in the
primary database: a budget's slices granted to a region, given back, read, its spend
recorded, old periods pruned. Called in the database thread, one transaction at a time
in a process."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from gateway.limits.spend import period_bounds
from gateway.models import BudgetLedger, BudgetSlice


def slice_percent() -> float:
    return float(getattr(settings, "SWITCHYARD_LEDGER_SLICE_PERCENT", 10.0))


def sync_seconds() -> float:
    return float(getattr(settings, "SWITCHYARD_LEDGER_SYNC_SECONDS", 2.0))


def idle_seconds() -> float:
    return float(getattr(settings, "SWITCHYARD_LEDGER_IDLE_SECONDS", 30.0))


# --- the ledger (the primary database; called in the database thread) ----------------------

_one_at_a_time = threading.Lock()


def _serialized(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One ledger transaction at a time in this process (the region's top-ups, loads and
    syncs queue here instead of contending for the same rows)."""

    @functools.wraps(fn)
    def run(*args: Any) -> Any:
        with _one_at_a_time:
            return fn(*args)

    return run


@dataclass(frozen=True, slots=True)
class SliceRow:
    """One of a region's slices, as the ledger has it."""

    counter: str
    period: str
    kind: str  # the budget period: day | month | total
    budget: int
    allotted: int
    spent: int
    total: int  # what every region together is allotted
    wanted_by: str  # a region that found no room left lately ("" none)


def _period_end(kind: str, at: float) -> datetime | None:
    return period_bounds(kind, at)[2]


def _locked(counter: str, period: str, kind: str, at: float, budget: int | None) -> Any:

    row, _ = BudgetLedger.objects.get_or_create(
        counter=counter,
        period=period,
        defaults={"period_end": _period_end(kind, at), "budget_units": budget or 0},
    )
    return BudgetLedger.objects.select_for_update().get(pk=row.pk)


@_serialized
def grant_sync(
    region: str,
    counter: str,
    period: str,
    kind: str,
    at: float,
    budget: int | None,
    want: int,
    need: int,
) -> int:
    """Allot ``region`` at least ``need`` and up to ``want`` more units of the budget
    (``budget``: as the asker knows it now; None: as the ledger has it): what was
    granted, 0 when fewer than ``need`` are free (the ledger then notes who wanted)."""

    with transaction.atomic():
        ledger = _locked(counter, period, kind, at, budget)
        if budget is not None and ledger.budget_units != budget:
            ledger.budget_units = budget
        slices = {s.region: s for s in BudgetSlice.objects.filter(ledger=ledger)}
        free = ledger.budget_units - sum(s.allotted_units for s in slices.values())
        if free < max(need, 1):
            ledger.wanted_at = timezone.now()
            ledger.wanted_by = region
            ledger.save(update_fields=["budget_units", "wanted_at", "wanted_by", "updated_at"])
            return 0
        granted = min(free, max(want, need))
        mine = slices.get(region) or BudgetSlice(ledger=ledger, region=region)
        mine.allotted_units += granted
        mine.save()
        if ledger.wanted_by == region:
            ledger.wanted_at, ledger.wanted_by = None, ""
        ledger.save(update_fields=["budget_units", "wanted_at", "wanted_by", "updated_at"])
        return int(granted)


@_serialized
def give_back_sync(region: str, counter: str, period: str, units: int) -> None:
    """Take ``units`` off ``region``'s slice (it took them out of its store first)."""

    with transaction.atomic():
        ledger = BudgetLedger.objects.select_for_update().filter(counter=counter, period=period)
        row = ledger.first()
        if row is None:
            return
        mine = BudgetSlice.objects.filter(ledger=row, region=region).first()
        if mine is None:
            return
        mine.allotted_units = max(0, mine.allotted_units - units)
        mine.save(update_fields=["allotted_units"])


@_serialized
def slice_of_sync(region: str, counter: str, period: str) -> tuple[int, int]:
    """(allotted, spent as last reported) of ``region``'s slice; (0, 0) when none."""

    found = (
        BudgetSlice.objects.filter(ledger__counter=counter, ledger__period=period, region=region)
        .values_list("allotted_units", "spent_units")
        .first()
    )
    return (int(found[0]), int(found[1])) if found else (0, 0)


@_serialized
def region_rows_sync(region: str) -> list[SliceRow]:
    """``region``'s slices of budget periods not over yet."""
    from django.db.models import Q, Sum

    current = Q(ledger__period_end__isnull=True) | Q(ledger__period_end__gt=timezone.now())
    rows = list(BudgetSlice.objects.filter(current, region=region).select_related("ledger"))
    totals = dict(
        BudgetSlice.objects.filter(ledger__in=[row.ledger_id for row in rows])
        .values("ledger")
        .annotate(total=Sum("allotted_units"))
        .values_list("ledger", "total")
    )
    found = []
    for row in rows:
        ledger = row.ledger
        kind = (
            "total" if ledger.period == "total" else ("day" if ledger.period[0] == "d" else "month")
        )
        recent = ledger.wanted_at is not None and ledger.wanted_at > timezone.now() - timedelta(
            seconds=max(idle_seconds(), sync_seconds() * 3)
        )
        found.append(
            SliceRow(
                ledger.counter,
                ledger.period,
                kind,
                ledger.budget_units,
                row.allotted_units,
                row.spent_units,
                int(totals.get(row.ledger_id) or 0),
                ledger.wanted_by if recent else "",
            )
        )
    return found


@_serialized
def record_spent_sync(region: str, spent: dict[tuple[str, str], int]) -> None:

    moment = timezone.now()
    for (counter, period), units in spent.items():
        BudgetSlice.objects.filter(
            ledger__counter=counter, ledger__period=period, region=region
        ).update(spent_units=units, synced_at=moment)


@_serialized
def prune_sync() -> int:
    """Forget the ledgers of periods over for a day (their slices go with them)."""

    cutoff = timezone.now() - timedelta(days=1)
    return int(BudgetLedger.objects.filter(period_end__lt=cutoff).delete()[0])


# --- a region: admission through its store, against its slices ------------------------------
