"""Request tags' tables: ``RequestTag`` (one row per tag of a logged request, for the log
filter) and ``TagSpendRollup`` (spend per hour, tag and key, for spend by tag). Both are
written by the journal writer in the transaction of the logs they describe."""

from __future__ import annotations

from decimal import Decimal

from django.db import models


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


class TagSpendRollup(models.Model):
    """Hourly spend per (hour, tag, key): a request with three tags adds to three rows,
    so sums across tags count such a request once per tag (by design: "what did tag X
    cost" is the question). Empty key name and key_id 0: the master key."""

    hour = models.DateTimeField(help_text="start of the UTC hour")
    tag = models.CharField(max_length=64)
    key_id = models.BigIntegerField(default=0)
    key_name = models.CharField(max_length=200, blank=True)
    requests = models.BigIntegerField(default=0)
    errors = models.BigIntegerField(default=0)
    input_tokens = models.BigIntegerField(default=0)
    output_tokens = models.BigIntegerField(default=0)
    cache_read_tokens = models.BigIntegerField(default=0)
    cache_write_tokens = models.BigIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=18, decimal_places=8, default=Decimal("0"))

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
