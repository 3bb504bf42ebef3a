"""What a budget has spent: its periods (a UTC day, a UTC month, in total), the spend of
a key, its end user, its team, its owner or a tag read from the request log (once per
counter, in the database thread, never per request), the counters' ids, and the region
whose slices of the global budgets a process counts against
(``gateway.limits.budget_ledger``). The clock ``now`` is the limits' one seam for tests."""

from __future__ import annotations

import contextvars
import functools
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.models import ApiKey, RequestLog, RequestTag
from gateway.models.batches import Batch

# One end user, session or agent run of a key: its request log column and value.
Part = tuple[Literal["end_user", "session", "agent_run"], str]
MICRO = Decimal("0.00000001")  # spend is counted in units of 1e-8 USD

now: Any = time.time  # seam for tests: epoch seconds


def to_units(amount: Decimal) -> int:
    return int((amount / MICRO).to_integral_value())


# --- periods --------------------------------------------------------------------------------


def period_bounds(period: str, at: float) -> tuple[str, datetime | None, datetime | None]:
    """(period id, start, end) of the budget period containing epoch ``at`` (UTC)."""
    return _bounds_on_day(period, int(at // DAY_SECONDS))


DAY_SECONDS = 86400


@functools.lru_cache(maxsize=16)
def _bounds_on_day(period: str, day: int) -> tuple[str, datetime | None, datetime | None]:
    """A day's budget periods do not change within it: worked out once a UTC day per
    period, not on each of a request's admissions (four calendar computations each)."""
    moment = datetime.fromtimestamp(day * DAY_SECONDS, UTC)
    if period == "day":
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        return start.strftime("d%Y-%m-%d"), start, start + timedelta(days=1)
    if period == "month":
        start = moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=32)).replace(day=1)
        return start.strftime("m%Y-%m"), start, end
    return "total", None, None


def _load_spend_sync(key_id: int, start: datetime | None, part: Part | None = None) -> Decimal:
    from django.db.models import Sum

    rows = RequestLog.objects.filter(key_id=key_id)
    if part is not None:
        column, value = part
        rows = rows.filter(**{column: value})
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    # a part's spend is its rows: the key's native batches hold for the key alone
    return spent if part is not None else spent + _batch_holds_sync([key_id])


def _batch_holds_sync(key_ids: Any) -> Decimal:
    """What the keys' native batches hold until their results are priced (the holds
    count as spend in the counters: gateway.features.batches.holds)."""
    from django.db.models import Sum

    rows = Batch.objects.filter(key_id__in=key_ids, held_usd__gt=0)
    return rows.aggregate(total=Sum("held_usd"))["total"] or Decimal("0")


async def load_spend(key_id: int, start: datetime | None, part: Part | None = None) -> Decimal:
    """What ``key_id`` (or only its ``part``) spent since ``start``, from the request
    log, plus what its native batches hold (two queries, once per counter load, in the
    database thread: never per request)."""

    return await db_work.arun(_load_spend_sync, key_id, start, part)


def _owned_spend_sync(owner: dict[str, int], start: datetime | None) -> Decimal:
    """What the keys of a team (``{"team_id": id}``) or a user (``{"user_id": id}``)
    spent since ``start``, plus what their native batches hold."""
    from django.db.models import Sum

    keys = ApiKey.objects.filter(**owner).values("id")
    rows = RequestLog.objects.filter(key_id__in=keys)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("cost_usd"))["total"] or Decimal("0")
    return spent + _batch_holds_sync(keys)


def load_tag_spend_sync(tag: str, start: datetime | None) -> Decimal:
    """What the requests of keys carrying ``tag`` spent since ``start`` (through the
    (tag, time) index of ``RequestTag``; the master key's requests, never limited, are
    not counted, as they are not counted live)."""
    from django.db.models import Sum

    rows = RequestTag.objects.filter(tag=tag, log__key_id__isnull=False)
    if start is not None:
        rows = rows.filter(created_at__gte=start)
    spent = rows.aggregate(total=Sum("log__cost_usd"))["total"]
    return spent or Decimal("0")


USER_COUNTER = "user:"  # a user's counter id: "user:<id>" (keys: ids; teams: -ids)
TAG_COUNTER = "tag:"  # a tag's: "tag:<name>"


def user_counter(user_id: int) -> str:
    return f"{USER_COUNTER}{user_id}"


def tag_counter(name: str) -> str:
    return f"{TAG_COUNTER}{name}"


async def counter_spend(counter_id: int | str, start: datetime | None, period: str) -> Decimal:
    """What a counter's spend starts from when a store does not know it:
    ``load_counter_spend``, or in a region (``current_region``) its slice's figure
    (``period``: the budget's, day, month or total)."""
    region = current_region()
    if region is not None:
        initial: Decimal = await region.initial(
            counter_id, period, start.timestamp() if start else 0.0
        )
        return initial
    return await load_counter_spend(counter_id, start)


async def load_counter_spend(counter_id: int | str, start: datetime | None) -> Decimal:
    """The spend of a key (a positive counter id), a team (negative: its keys'), a
    user (``user:<id>``: every key they own) or a tag (``tag:<name>``: its requests)."""

    if isinstance(counter_id, str) and counter_id.startswith(TAG_COUNTER):
        return await db_work.arun(load_tag_spend_sync, counter_id.removeprefix(TAG_COUNTER), start)
    if isinstance(counter_id, str):
        user_id = int(counter_id.removeprefix(USER_COUNTER))
        return await db_work.arun(_owned_spend_sync, {"user_id": user_id}, start)
    if counter_id < 0:
        return await db_work.arun(_owned_spend_sync, {"team_id": -counter_id}, start)
    return await load_spend(counter_id, start)


_region: contextvars.ContextVar[Any] = contextvars.ContextVar("switchyard_region", default=None)
_installed_region: Any = None  # this process's region (gateway.limits.budget_ledger.install)


def current_region() -> Any:
    """The region whose slices of the global budgets this admission counts against
    (``gateway.limits.budget_ledger.Region``), or None: one region, budgets counted
    whole as they always were (``SWITCHYARD_REGION`` unset)."""
    return _region.get() or _installed_region


def install_region(region: Any) -> None:
    global _installed_region
    _installed_region = region


async def key_spend(key: KeyEntry, start: datetime | None) -> Decimal:
    """``load_spend`` of a key, or of the end user an ``end_user_entry`` counts (in a
    region: what its counter starts from, ``current_region``)."""
    region = current_region()
    if region is not None:
        initial: Decimal = await region.initial(
            key.id, key.budget_period, start.timestamp() if start else 0.0
        )
        return initial
    if key.end_user is not None and key.parent_id is not None:
        return await load_spend(key.parent_id, start, ("end_user", key.end_user))
    if key.session is not None and key.parent_id is not None:  # a session (session_entry)
        return await load_spend(key.parent_id, None, ("session", key.session))
    if key.run is not None and key.parent_id is not None:  # an agent run (run_entry)
        return await load_spend(key.parent_id, None, ("agent_run", key.run.id))
    return await load_spend(key.id, start)  # type: ignore[arg-type]
