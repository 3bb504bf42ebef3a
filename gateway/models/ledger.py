"""Spend you can prove (issue #65): the global budget ledger of several regions and the
reconciliation of the journal with the providers' own bills.

- ``BudgetLedger``: one row per budget (a counter: a key, a team, a user, a tag, an end
  user of a key) and budget period, holding the budget as last seen. ``BudgetSlice``: what
  of it each region was allotted (``allotted_units``, cumulative for the period: what the
  region may spend in it) and what the region last said it spent. The sum of a ledger's
  slices never exceeds its budget: every grant is made under a lock of the ledger row
  (``gateway.limits.budget_ledger``). Units are 1e-8 USD, as in the counters.
- ``BillDrift``: per provider, route and UTC day, the journal's cost beside the
  provider's own (``gateway.features.billing``), and their difference."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


class BudgetLedger(models.Model):
    counter = models.CharField(max_length=200)  # the limits counter ("12", "-3", "tag:x")
    period = models.CharField(max_length=16)  # "d2026-11-27", "m2026-11", "total"
    period_end = models.DateTimeField(null=True, blank=True)  # None: a total budget
    budget_units = models.BigIntegerField(default=0)  # the budget as last seen
    wanted_at = models.DateTimeField(null=True, blank=True)  # a region found no room left
    wanted_by = models.CharField(max_length=64, blank=True, default="")  # that region
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "gateway"
        constraints = [
            models.UniqueConstraint(fields=["counter", "period"], name="budget_ledger_once")
        ]

    def __str__(self) -> str:
        return f"{self.counter} {self.period}"


class BudgetSlice(models.Model):
    ledger = models.ForeignKey(BudgetLedger, on_delete=models.CASCADE, related_name="slices")
    region = models.CharField(max_length=64)
    allotted_units = models.BigIntegerField(default=0)
    spent_units = models.BigIntegerField(default=0)  # as the region last reported it
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        app_label = "gateway"
        constraints = [
            models.UniqueConstraint(fields=["ledger", "region"], name="budget_slice_once")
        ]

    def __str__(self) -> str:
        return f"{self.ledger} @ {self.region}"


class BillDrift(models.Model):
    """One provider's bill for one route and UTC day beside the journal's."""

    source = models.CharField(max_length=32)  # the bill's source: "openai", "anthropic"
    provider = models.CharField(max_length=100)  # the gateway's provider name
    route = models.CharField(max_length=200)  # "" for the provider's cost no route explains
    day = models.DateField()
    journal_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    provider_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    drift_usd = models.DecimalField(max_digits=14, decimal_places=6, default=Decimal(0))
    models_seen = models.JSONField(default=list, blank=True)  # upstream models matched
    alerted_at = models.DateTimeField(null=True, blank=True)
    checked_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "gateway"
        constraints = [
            models.UniqueConstraint(
                fields=["source", "provider", "route", "day"], name="bill_drift_once"
            )
        ]
        indexes = [models.Index(fields=["day"], name="bill_drift_day")]

    def __str__(self) -> str:
        return f"{self.source} {self.provider} {self.route} {self.day}"

    @property
    def drift_percent(self) -> Decimal | None:
        if not self.journal_usd:
            return None
        return (Decimal(self.drift_usd) / Decimal(self.journal_usd) * 100).quantize(Decimal("0.1"))
