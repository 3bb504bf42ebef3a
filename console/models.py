"""Playground records: a Comparison (one prompt sent to several columns, with every
turn's results) and the BlindVote cast on it."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class Comparison(models.Model):
    """One playground session. ``columns`` is the list of column specs in display order
    (route, dialect, per-column params); in blind mode the order was shuffled when the
    comparison was created, and labels A, B, C ... name the positions.

    ``messages`` is the shared conversation that opens the session (ending in a user
    message); ``followups`` the user messages sent afterwards to every column at once.
    ``results[turn][column]`` is what that column answered on that turn (text, tool
    calls, metrics, the request body sent and the SSE transcript received)."""

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    title = models.CharField(max_length=200, blank=True)
    system = models.TextField(blank=True)
    messages = models.JSONField(default=list)
    followups = models.JSONField(default=list, blank=True)
    params = models.JSONField(default=dict, blank=True)
    tools = models.JSONField(default=list, blank=True)
    columns = models.JSONField(default=list)
    results = models.JSONField(default=list, blank=True)
    blind = models.BooleanField(default=False)
    replay_of = models.CharField(max_length=40, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.title or f"comparison {self.pk}"

    @property
    def revealed(self) -> bool:
        """Blind comparisons show their routes only once a vote was cast."""
        return not self.blind or self.votes.exists()


class BlindVote(models.Model):
    """A vote on a blind comparison: the column the user preferred (or a tie)."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="votes")
    voter = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    winner_index = models.IntegerField(null=True, blank=True)  # None: a tie
    winner_route = models.CharField(max_length=200, blank=True)
    routes = models.JSONField(default=list)  # every column's route, in display order

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"vote on {self.comparison_id}: {self.winner_route or 'tie'}"


class StoredHourSummary(models.Model):
    """A finished hour of the dashboard's rollups, folded per route and per key with its
    latency histograms (``console.stats.HourSummary``), kept so that a freshly started
    process draws the week view from 168 of these instead of re-reading every rollup
    row (hundreds per hour: one per route, key, dialect and status class).

    ``top_id`` and ``rows`` are the hour's rollup version when it was folded; a
    different version (late records, a rebuild) makes it stale."""

    hour = models.DateTimeField(unique=True)
    top_id = models.BigIntegerField()
    rows = models.BigIntegerField()
    summary = models.JSONField()

    def __str__(self) -> str:
        return f"dashboard summary of {self.hour:%Y-%m-%d %H}h"


class SavedPrompt(models.Model):
    """A playground prompt kept under a name by one console user: the system prompt,
    the conversation (earlier turns and the prompt, files included), the shared
    parameters and the tools, loaded back into a new comparison's form. Columns are not
    part of it: the same prompt is meant for whichever routes are compared next."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_prompts"
    )
    name = models.CharField(max_length=100)
    system = models.TextField(blank=True)
    messages = models.JSONField(default=list)
    params = models.JSONField(default=dict, blank=True)
    tools = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="saved_prompt_name_per_owner")
        ]

    def __str__(self) -> str:
        return str(self.name)
