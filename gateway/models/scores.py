"""Scores on logged requests: a thumbs up or down, a grade, a category, with a comment,
given in the console, sent by an application through ``POST /api/logs/{id}/scores``
(its users' feedback), or written by a judge run over a slice of the log
(``console.slice_scoring``). One row per (request, name, source, author): scoring again
replaces the earlier value."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from gateway.models import NamedRow


class Score(models.Model):
    class Source(models.TextChoices):
        USER = "user"  # a console user
        API = "api"  # an application (a virtual key) or a management caller
        JUDGE = "judge"  # an LLM judge over a slice of the log
        REVIEW = "review"  # a reviewer working an annotation queue (console.evals.queues)

    log = models.ForeignKey("gateway.RequestLog", on_delete=models.CASCADE, related_name="scores")
    name = models.CharField(max_length=100, help_text="thumbs, quality, ...")
    # Numeric value (thumbs: 1 up, 0 down; booleans 1/0; a judge's grade in [0, 1]);
    # NULL for a purely categorical score.
    value = models.FloatField(null=True, blank=True)
    label = models.CharField(max_length=100, blank=True, help_text="up, down, or a category")
    comment = models.TextField(blank=True)
    # A judge's own words (its answer, the grade read from it) and the request id of
    # its call in the journal: what a grade of 0.80 was for, and what it cost.
    reasoning = models.TextField(blank=True)
    judge_request_id = models.CharField(max_length=40, blank=True)
    source = models.CharField(max_length=10, choices=Source.choices)
    author = models.CharField(max_length=200, blank=True, help_text="user, key or judge")
    key_id = models.BigIntegerField(null=True, blank=True, help_text="the key that sent it")
    # the route of the scored request, copied so the per-route chart reads one table
    route = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["log", "name", "source", "author"], name="score_once_per_author"
            )
        ]
        indexes = [
            models.Index(fields=["name", "value"], name="score_name_value"),
            models.Index(fields=["route", "name", "created_at"], name="score_route_time"),
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value if self.value is not None else self.label}"


class ScoreConfig(NamedRow, models.Model):
    """What a score of this ``name`` may hold, wherever it comes from (the API, a judge, a
    reviewer; ``gateway.telemetry.scores.governed``): a number within ``min_value`` and
    ``max_value`` (either may be open), one of ``categories``, or a boolean. A score whose
    name no config names stays free, as before configs existed."""

    class DataType(models.TextChoices):
        NUMERIC = "numeric"
        CATEGORICAL = "categorical"
        BOOLEAN = "boolean"

    name = models.CharField(max_length=100, unique=True)
    data_type = models.CharField(max_length=12, choices=DataType.choices)
    min_value = models.FloatField(null=True, blank=True)
    max_value = models.FloatField(null=True, blank=True)
    categories = models.JSONField(default=list, blank=True)  # ["correct", "off-topic", ...]
    description = models.TextField(blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    @property
    def range_text(self) -> str:
        """What the config accepts, in words ("1 to 5", "correct, wrong", "true or false")."""
        if self.data_type == self.DataType.CATEGORICAL:
            return ", ".join(str(c) for c in self.categories)
        if self.data_type == self.DataType.BOOLEAN:
            return "true or false"
        low = "" if self.min_value is None else f"{self.min_value:g}"
        high = "" if self.max_value is None else f"{self.max_value:g}"
        if low and high:
            return f"{low} to {high}"
        if low:
            return f"at least {low}"
        if high:
            return f"at most {high}"
        return "any number"
