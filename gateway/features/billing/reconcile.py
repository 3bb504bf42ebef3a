"""The journal beside the provider's bill, per provider, route and UTC day.

For each source with an admin key (``sources.configured``) and each day of the window,
the journal's cost (``RequestLog.cost_usd`` of the requests answered by the gateway's
providers of that kind) is grouped by (provider, route, upstream model) and the bill by
model. A billed model matches the journal's upstream model when it is the same name or
the journal's name dated (``gpt-4o`` and ``gpt-4o-2024-08-06``; of several, the longest: ``gpt-4o-mini``
is not ``gpt-4o``'s). A model's billed cost is
shared between the routes (and providers of the kind) that used it in proportion to
their journal cost (their tokens when the journal priced none); a billed cost no route
explains (another application on the same organization, a model the gateway never
called, a tool's fee) is kept on route ``""``. Each (provider, route, day) is one
``BillDrift`` row, written again on each run (a bill keeps changing for a day or two).
``drift_usd`` = billed - journal: positive when the provider charged more than the
journal says.

When a source's day drifts past the thresholds (``SWITCHYARD_BILL_DRIFT_PERCENT`` of
the journal and ``SWITCHYARD_BILL_DRIFT_USD``, both), one notice goes to the alerts'
channels (``hooks.notices``: the webhook, the email recipients) and the day's rows are
stamped ``alerted_at``: once per source and day, retried next run when no channel took
it."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from gateway.features.billing.sources import BilledCost, BilledUsage
from gateway.models import BillDrift, Provider, RequestLog

CENT = Decimal("0.000001")


def same_model(journal: str, billed: str) -> bool:
    """Whether a billed model is the journal's upstream model (or it, dated)."""
    journal, billed = journal.lower(), billed.lower()
    return bool(journal) and (billed == journal or billed.startswith(journal + "-"))


@dataclass
class JournalLine:
    provider: str
    route: str
    model: str
    usd: Decimal
    tokens: int


@dataclass
class DayDrift:
    """One source's day: its rows, and the totals the alert compares."""

    day: date
    rows: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    @property
    def journal(self) -> Decimal:
        return sum((Decimal(r["journal_usd"]) for r in self.rows.values()), Decimal(0))

    @property
    def billed(self) -> Decimal:
        return sum((Decimal(r["provider_usd"]) for r in self.rows.values()), Decimal(0))


def providers_of(kind: str) -> list[str]:

    return list(Provider.objects.filter(kind=kind).values_list("name", flat=True))


def journal_lines(providers: list[str], first: date, last: date) -> dict[date, list[JournalLine]]:
    """The journal's cost of ``providers`` per day, route and upstream model."""

    if not providers:
        return {}
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end = datetime(last.year, last.month, last.day, tzinfo=UTC)
    rows = (
        RequestLog.objects.filter(provider__in=providers, created_at__gte=start, created_at__lt=end)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "provider", "route", "upstream_model")
        .annotate(usd=Sum("cost_usd"), inputs=Sum("input_tokens"), outputs=Sum("output_tokens"))
    )
    found: dict[date, list[JournalLine]] = defaultdict(list)
    for row in rows:
        found[row["day"]].append(
            JournalLine(
                row["provider"],
                row["route"],
                row["upstream_model"],
                Decimal(row["usd"] or 0),
                int(row["inputs"] or 0) + int(row["outputs"] or 0),
            )
        )
    return found


def match_day(
    day: date, journal: list[JournalLine], costs: list[BilledCost], usage: list[BilledUsage]
) -> DayDrift:
    """One day's rows: each (provider, route) with its journal and billed cost."""
    drift = DayDrift(day)

    def row(provider: str, route: str) -> dict[str, Any]:
        return drift.rows.setdefault(
            (provider, route),
            {"journal_usd": Decimal(0), "provider_usd": Decimal(0), "models": {}},
        )

    for line in journal:
        entry = row(line.provider, line.route)
        entry["journal_usd"] += line.usd
        seen = entry["models"].setdefault(line.model, {"journal_usd": "0", "tokens": 0})
        seen["journal_usd"] = str(Decimal(seen["journal_usd"]) + line.usd)
        seen["tokens"] += line.tokens
    billed_by_model: dict[str, Decimal] = defaultdict(Decimal)
    for cost in costs:
        billed_by_model[cost.model] += cost.usd
    billed_tokens: dict[str, int] = defaultdict(int)
    for used in usage:
        billed_tokens[used.model] += used.input_tokens + used.output_tokens
    for model, usd in billed_by_model.items():
        users = [line for line in journal if model and same_model(line.model, model)]
        longest = max((len(line.model) for line in users), default=0)
        users = [
            line for line in users if len(line.model) == longest
        ]  # gpt-4o-mini's, not gpt-4o's
        weights = [line.usd for line in users]
        if not any(weights):
            weights = [Decimal(line.tokens) for line in users]
        total = sum(weights, Decimal(0))
        if not users or not total:
            entry = row("", "")
            entry["provider_usd"] += usd
            entry["models"].setdefault(model or "(no model)", {})["billed_usd"] = str(usd)
            continue
        for line, weight in zip(users, weights, strict=True):
            share = usd * weight / total
            entry = row(line.provider, line.route)
            entry["provider_usd"] += share
            seen = entry["models"].setdefault(line.model, {})
            seen["billed_usd"] = str(Decimal(seen.get("billed_usd", "0")) + share)
            seen["billed_model"] = model
            if billed_tokens.get(model):
                seen["billed_tokens"] = billed_tokens[model]
    return drift


def store(source: str, drift: DayDrift) -> list[int]:
    """Write one source's day (its old rows of that day replaced): the rows' ids."""

    ids = []
    with transaction.atomic():
        kept = {
            (r.provider, r.route): r.alerted_at
            for r in BillDrift.objects.filter(source=source, day=drift.day)
        }
        BillDrift.objects.filter(source=source, day=drift.day).delete()
        for (provider, route), entry in sorted(drift.rows.items()):
            journal = Decimal(entry["journal_usd"]).quantize(CENT)
            billed = Decimal(entry["provider_usd"]).quantize(CENT)
            made = BillDrift.objects.create(
                source=source,
                provider=provider,
                route=route,
                day=drift.day,
                journal_usd=journal,
                provider_usd=billed,
                drift_usd=billed - journal,
                models_seen=[{"model": m, **v} for m, v in sorted(entry["models"].items())],
                alerted_at=kept.get((provider, route)),
            )
            ids.append(made.pk)
    return ids


def past_threshold(journal: Decimal, billed: Decimal) -> bool:
    drift = abs(billed - journal)
    percent = Decimal(str(getattr(settings, "SWITCHYARD_BILL_DRIFT_PERCENT", 5.0)))
    floor = Decimal(str(getattr(settings, "SWITCHYARD_BILL_DRIFT_USD", 1.0)))
    if drift < floor:
        return False
    return not journal or drift * 100 / abs(journal) >= percent


def unalerted(source: str, day: date) -> bool:

    return not BillDrift.objects.filter(source=source, day=day, alerted_at__isnull=False).exists()


def mark_alerted(source: str, day: date) -> None:

    BillDrift.objects.filter(source=source, day=day).update(alerted_at=timezone.now())


def notice(source: str, drift: DayDrift) -> dict[str, Any]:
    """What the alerts' channels are told of a day past the threshold."""
    journal, billed = drift.journal.quantize(CENT), drift.billed.quantize(CENT)
    worst = sorted(
        drift.rows.items(),
        key=lambda item: abs(Decimal(item[1]["provider_usd"]) - Decimal(item[1]["journal_usd"])),
        reverse=True,
    )[:3]
    return {
        "kind": "bill_drift",
        "source": source,
        "day": drift.day.isoformat(),
        "journal_usd": journal,
        "provider_usd": billed,
        "drift_usd": billed - journal,
        "routes": [
            {
                "provider": provider,
                "route": route or "(no route)",
                "drift_usd": (
                    Decimal(entry["provider_usd"]) - Decimal(entry["journal_usd"])
                ).quantize(CENT),
            }
            for (provider, route), entry in worst
        ],
    }
