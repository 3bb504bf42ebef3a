"""Dashboards a team shapes (issue #66): ``PinnedChart``, one chart pinned to a board, a
journal metric grouped by a dimension over a window. A board is a team's (``team``) or
the global one (``team`` None: owners and admins). The metrics, dimensions and windows
are choices here so the console form, ``/api/dashboards`` and the field rules read one
list; ``gateway.features.dashboards.figures`` computes each (a test holds every choice computed)."""

from __future__ import annotations

from django.conf import settings as django_settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from gateway.models.scores import ScoreConfig

MAX_PER_BOARD = 12  # a board's charts each cost a bounded aggregate per view


class PinnedChart(models.Model):
    class Metric(models.TextChoices):
        REQUESTS = "requests", "Requests"
        ERRORS = "errors", "Errors"
        COST = "cost", "Cost"
        TOKENS = "tokens", "Tokens"
        LATENCY_P50 = "latency_p50", "Latency p50"
        LATENCY_P95 = "latency_p95", "Latency p95"
        LATENCY_P99 = "latency_p99", "Latency p99"
        TTFT_P50 = "ttft_p50", "Time to first token p50"
        CACHE_SAVED = "cache_saved", "Cache savings"
        SCORE = "score", "Average score"

    class GroupBy(models.TextChoices):
        ROUTE = "route", "Route"
        MODEL = "model", "Model"
        KEY = "key", "Key"
        TEAM = "team", "Team"
        USER = "user", "User"
        END_USER = "end_user", "End user"
        TAG = "tag", "Tag"
        PROMPT_VERSION = "prompt_version", "Prompt version"

    class Window(models.TextChoices):
        HOUR = "1h", "Last hour"
        DAY = "24h", "Last day"
        WEEK = "7d", "Last week"

    team = models.ForeignKey(
        "gateway.Team",
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="pinned_charts",
        help_text="the team's board; empty: the global board (owners and admins)",
    )
    metric = models.CharField(max_length=20, choices=Metric.choices)
    group_by = models.CharField(max_length=20, choices=GroupBy.choices)
    window = models.CharField(max_length=4, choices=Window.choices, default=Window.DAY)
    score_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="a chart of scores: the score it averages (one name, one scale)",
    )
    position = models.PositiveIntegerField(default=0, help_text="order on its board")
    created_by = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        app_label = "gateway"
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["team", "position"], name="pinned_board_order")]

    def __str__(self) -> str:
        return f"{self.measure} by {self.get_group_by_display()}"

    @property
    def measure(self) -> str:
        """What the chart draws: its metric, or "Average <score>" for a score's."""
        if self.metric == self.Metric.SCORE and self.score_name:
            return f"Average {self.score_name}"
        return str(self.get_metric_display())

    @property
    def title(self) -> str:
        return f"{self.measure} by {self.get_group_by_display().lower()}"

    def clean(self) -> None:
        """A chart of scores names the one score it averages: scores of several names are
        on several scales (thumbs 0 or 1, a grade of 1 to 5), and their mean is no figure
        of any. A categorical score has no value to average; another metric names none."""
        if self.metric != self.Metric.SCORE:
            if self.score_name:
                raise ValidationError({"score_name": "only a chart of scores names a score"})
            return
        if not self.score_name:
            raise ValidationError(
                {
                    "score_name": "a chart of scores needs the score it averages: scores of "
                    "different names are on different scales"
                }
            )
        config = ScoreConfig.objects.filter(name=self.score_name).first()
        if config is not None and config.data_type == ScoreConfig.DataType.CATEGORICAL:
            raise ValidationError(
                {"score_name": f"{self.score_name} is categorical: it has no value to average"}
            )
