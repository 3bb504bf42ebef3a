"""What a key, a team or a user has spent in its current budget period, and how that
stands against its budget: "spent $2.83 of $5.00 this month" on the console's key, team
and user pages and in the budgets the alerts watch, and the spend the budget alerts
compare with their thresholds (``gateway.features.alerts.evaluate``).

Read from the hourly spend rollups (``SpendRollup``: the journal writer adds each batch
of logs to them), never the request log: a budget period starts on an hour, so the
rollups from its first hour on are exactly its spend, as far as the journal has written.
A team's spend is its keys', a user's the keys they own (as admission counts them).
Pages and the alerts' loop only: nothing here runs on a request."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db.models import Sum

from gateway.limits.spend import period_bounds
from gateway.models import ApiKey
from gateway.models.telemetry import SpendRollup

WHEN = {"day": "today", "month": "this month", "total": "in total"}


@dataclass(frozen=True, slots=True)
class Standing:
    """Spend against a budget in its current period; ``whose`` names a budget that is
    not the subject's own ("team research's": a key with none follows its team's)."""

    spent: Decimal
    budget: Decimal
    period: str  # day | month | total
    whose: str = ""

    @property
    def when(self) -> str:
        return WHEN.get(self.period, "this period")

    @property
    def percent(self) -> int:
        if self.budget <= 0:
            return 100 if self.spent > 0 else 0
        return int((self.spent / self.budget * 100).to_integral_value(ROUND_HALF_UP))

    @property
    def left(self) -> Decimal:
        return max(self.budget - self.spent, Decimal(0))

    @property
    def over(self) -> bool:
        return self.spent >= self.budget

    def __str__(self) -> str:
        budget = f"{self.whose} ${self.budget:.2f}" if self.whose else f"${self.budget:.2f}"
        return f"spent ${self.spent:.2f} of {budget} {self.when}"


def spend_by_key(
    start: datetime | None, key_ids: Iterable[int] | None = None
) -> dict[int, Decimal]:
    """Spend per key id since ``start`` (all of the kept rollups for None); only the
    keys of ``key_ids`` when given."""
    rows = SpendRollup.objects.filter(key_id__gt=0)
    if start is not None:
        rows = rows.filter(hour__gte=start)
    if key_ids is not None:
        rows = rows.filter(key_id__in=list(key_ids))
    grouped = rows.values("key_id").annotate(total=Sum("cost_usd")).order_by()
    return {row["key_id"]: row["total"] or Decimal(0) for row in grouped}


class Ledger:
    """The current periods' spend for one page or one alerts round: one grouped read of
    the rollups per period start (day, month, total) and one of the keys' owners, at
    most, however many keys, teams and users are asked about."""

    def __init__(self, at: float | None = None) -> None:
        self.at = time.time() if at is None else at
        self._by_start: dict[datetime | None, dict[int, Decimal]] = {}
        self._owners: dict[int, tuple[Any, Any]] | None = None

    def period_id(self, period: str) -> str:
        return period_bounds(period, self.at)[0]

    def _keys(self, period: str) -> dict[int, Decimal]:
        start = period_bounds(period, self.at)[1]
        if start not in self._by_start:
            self._by_start[start] = spend_by_key(start)
        return self._by_start[start]

    def _owned(self, index: int, owner_id: int, period: str) -> Decimal:
        if self._owners is None:
            rows = ApiKey.objects.values_list("id", "team_id", "user_id")
            self._owners = {k: (t, u) for k, t, u in rows}
        owners = self._owners
        return sum(
            (
                total
                for key_id, total in self._keys(period).items()
                if owners.get(key_id, (None, None))[index] == owner_id
            ),
            Decimal(0),
        )

    def key(self, key_id: int, period: str) -> Decimal:
        return self._keys(period).get(key_id, Decimal(0))

    def team(self, team_id: int, period: str) -> Decimal:
        return self._owned(0, team_id, period)

    def user(self, user_id: int, period: str) -> Decimal:
        return self._owned(1, user_id, period)

    def spent(self, scope: str, subject_id: int, period: str) -> Decimal:
        """``scope`` key, team or user."""
        if scope == "key":
            return self.key(subject_id, period)
        return self.team(subject_id, period) if scope == "team" else self.user(subject_id, period)

    def standing(self, scope: str, subject_id: int, budget: Any, period: str) -> Standing | None:
        """The subject's standing against ``budget`` (None: no budget)."""
        if budget is None:
            return None
        return Standing(self.spent(scope, subject_id, period), Decimal(budget), period)

    def of_key(self, key: Any) -> Standing | None:
        """A key's own budget; without one, its team's (what limits it), else None."""
        if key.budget_usd is not None:
            return self.standing("key", key.pk, key.budget_usd, key.budget_period)
        team = key.team if key.team_id is not None else None
        if team is None or team.budget_usd is None:
            return None
        spent = self.team(team.pk, team.budget_period)
        return Standing(spent, team.budget_usd, team.budget_period, f"team {team.name}'s")
