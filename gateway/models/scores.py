"""Scores on logged requests: a thumbs up or down, a grade, a category, with a comment,
given in the console, sent by an application through ``POST /api/logs/{id}/scores``
(its users' feedback), or written by a judge run over a slice of the log
(``console.slice_scoring``). One row per (request, name, source, author): scoring again
replaces the earlier value."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Score(models.Model):
    class Source(models.TextChoices):
        USER = "user"  # a console user
        API = "api"  # an application (a virtual key) or a management caller
        JUDGE = "judge"  # an LLM judge over a slice of the log

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
