"""Request tags' tables: ``TagBudget`` (a tag's limits: a budget per period and rpm/tpm,
counted like a team's by every request carrying the tag, gateway/limits/limits.py),
``RequestTag`` (one row per tag of a logged request, for the log filter) and
``TagSpendRollup`` (spend per hour, tag and key, for spend by tag). The last two are
written by the journal writer in the transaction of the logs they describe."""

from __future__ import annotations

from decimal import Decimal

from django.db import models

from gateway.models import NamedRow, UsageCounts, budget_field, budget_period_field


class TagBudget(NamedRow, models.Model):
    """A tag's limits (LiteLLM's tag budgets: ``max_budget`` per ``budget_duration``): its
    spend per period and its requests and tokens per minute, across every key, counted
    like a team's (one more subject beside the key, its team and its owner). None: no
    such limit. Read from the registry snapshot, never per request."""

    name: str = models.CharField(max_length=64, unique=True)
    description = models.CharField(max_length=500, blank=True)
    rpm_limit = models.PositiveIntegerField(null=True, blank=True)
    tpm_limit = models.PositiveIntegerField(null=True, blank=True)
    budget_usd = budget_field()
    budget_period = budget_period_field()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        app_label = "gateway"
        ordering = ["name"]

    @property
    def max_budget(self) -> Decimal | None:
        """The budget by LiteLLM's name (``/api/tags``, its field rules)."""
        budget: Decimal | None = self.budget_usd
        return budget


class RequestTag(models.Model):
    """A tag of a logged request. ``created_at`` repeats the log's, so that a tag filter
    reads one index range (tag, time) in the list's order instead of every row of the
    tag; the log's ``tags`` column is what the pages show."""

    log = models.ForeignKey(
        "gateway.RequestLog", on_delete=models.CASCADE, related_name="request_tags"
    )
    tag = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        app_label = "gateway"
        constraints = [models.UniqueConstraint(fields=["log", "tag"], name="request_tag_unique")]
        indexes = [
            models.Index(
                "tag",
                models.F("created_at").desc(),
                models.F("log").desc(),
                name="request_tag_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.tag} on {self.log_id}"


class TagSpendRollup(UsageCounts):
    """Hourly spend per (hour, tag, key): a request with three tags adds to three rows,
    so sums across tags count such a request once per tag (by design: "what did tag X
    cost" is the question). Empty key name and key_id 0: the master key."""

    hour = models.DateTimeField(help_text="start of the UTC hour")
    tag = models.CharField(max_length=64)
    key_id = models.BigIntegerField(default=0)
    key_name = models.CharField(max_length=200, blank=True)

    class Meta:
        app_label = "gateway"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "tag", "key_id", "key_name"], name="tag_spend_rollup_group"
            )
        ]
        indexes = [models.Index(fields=["tag", "hour"], name="tag_spend_tag_hour")]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h {self.tag} key {self.key_id}"
