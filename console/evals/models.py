"""Datasets (rows kept per version: an edit writes a new version, experiments name the
one they ran), experiments (columns = routes with parameters, scorers, a lease that says
which process runs them) and their cells (one per row × column, unique: a resumed
experiment runs only the cells it has not saved)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.db import models
from django.utils import timezone


class Dataset(models.Model):
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    version = models.PositiveIntegerField(default=1)
    source = models.CharField(max_length=40, default="upload")  # upload | log | api
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return str(self.name)

    def rows(self, version: int | None = None) -> models.QuerySet[DatasetRow]:
        return self.all_rows.filter(version=version or self.version).order_by("index")


class DatasetRow(models.Model):
    """One example of one version: a conversation (``messages``: role + content), an
    optional system prompt, reference answer and metadata."""

    dataset = models.ForeignKey(Dataset, on_delete=models.CASCADE, related_name="all_rows")
    version = models.PositiveIntegerField()
    index = models.PositiveIntegerField()
    messages = models.JSONField()
    system = models.TextField(blank=True)
    reference = models.TextField(blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["dataset", "version", "index"], name="evals_row_unique")
        ]

    def prompt(self) -> str:
        """The last user message's text (what a table shows of the row)."""
        for message in reversed(self.messages):
            if message.get("role") == "user":
                return str(message.get("content") or "")
        return ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "messages": self.messages,
            "system": self.system,
            "reference": self.reference,
            "metadata": self.metadata,
        }


class Experiment(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        SCORING = "scoring"
        DONE = "done"
        CANCELLED = "cancelled"
        FAILED = "failed"

    UNFINISHED = (Status.QUEUED, Status.RUNNING, Status.SCORING)

    name = models.CharField(max_length=200)
    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="experiments")
    dataset_version = models.PositiveIntegerField()
    # [{"route": "...", "params": {temperature, max_tokens, system, reasoning_effort}}]
    columns = models.JSONField()
    # [{"kind": "exact"|..., options...}]; the first one is the headline score
    scorers = models.JSONField(default=list, blank=True)
    baseline = models.PositiveSmallIntegerField(default=0)  # column the win rate is against
    concurrency = models.PositiveSmallIntegerField(default=4)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    # the lease: which process runs it and until when (renewed while it runs)
    runner = models.CharField(max_length=80, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    total_cells = models.PositiveIntegerField(default=0)
    cells_done = models.PositiveIntegerField(default=0)
    cells_failed = models.PositiveIntegerField(default=0)
    spend_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    summary = models.JSONField(default=dict, blank=True)  # precomputed by summary.py
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "lease_until"], name="evals_exp_claim")]

    def __str__(self) -> str:
        return str(self.name)

    @property
    def progress(self) -> int:
        return round(100 * self.cells_done / self.total_cells) if self.total_cells else 100

    @property
    def finished(self) -> bool:
        return self.status not in self.UNFINISHED

    def column_label(self, index: int) -> str:
        column: dict[str, str] = self.columns[index]
        return column.get("label") or column["route"]


class Cell(models.Model):
    """One row × one column: the answer and what it cost; ``scores`` by scorer name."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="cells")
    row_index = models.PositiveIntegerField()
    column = models.PositiveSmallIntegerField()
    output = models.TextField(blank=True)
    error = models.TextField(blank=True)
    status = models.PositiveSmallIntegerField(default=0)
    request_id = models.CharField(max_length=40, blank=True)
    latency_ms = models.FloatField(null=True, blank=True)
    ttft_ms = models.FloatField(null=True, blank=True)
    input_tokens = models.PositiveIntegerField(default=0)
    output_tokens = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    scores = models.JSONField(default=dict, blank=True)  # {scorer name: float | None}
    score = models.FloatField(null=True, blank=True)  # the headline scorer's value
    # {scorer name: why it left this answer unscored} (scorers.JUDGE_NO_SCORE...)
    unscored = models.JSONField(default=dict, blank=True)
    # {scorer name: the judge's answer}: why a judge gave the grade it did
    reasons = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["experiment", "row_index", "column"], name="evals_cell_unique"
            )
        ]
        indexes = [models.Index(fields=["experiment", "row_index"], name="evals_cell_row")]


class ScoringRun(models.Model):
    """What a judge's run in the background has (``ShadowScoring``, ``SliceScoring``):
    the same runner and lease as an experiment (``console.evals.runner``), its scorer,
    its state and who asked for it; each says its ``total`` and how many are ``done``."""

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    UNFINISHED = (Status.QUEUED, Status.RUNNING)

    scorer = models.JSONField()  # one validated scorer (console.evals.scorers.validate)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    runner = models.CharField(max_length=80, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at", "-id"]

    @property
    def total(self) -> int:
        raise NotImplementedError

    @property
    def done(self) -> int:
        raise NotImplementedError

    @property
    def progress(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100

    @property
    def finished(self) -> bool:
        return self.status not in self.UNFINISHED


class ShadowScoring(ScoringRun):
    """A scorer run over a route's newest mirrored pairs (``console.shadow_scoring``), in
    the background like an experiment: the same runner and lease
    (``console.evals.runner``), the pairs fixed when it is asked for (``mirrors``: the
    mirrored requests' ids), each pair's score saved as it comes (``scores``: mirror
    request id -> value or None for unscored), so a restarted process resumes it."""

    route = models.ForeignKey("gateway.Route", on_delete=models.CASCADE, related_name="+")
    mirrors = models.JSONField(default=list)  # the mirrored requests' ids, newest first
    scores = models.JSONField(default=dict, blank=True)
    verdict = models.JSONField(default=dict, blank=True)  # shadow_scoring.verdict, when done

    class Meta(ScoringRun.Meta):
        indexes = [models.Index(fields=["status", "lease_until"], name="evals_shadow_claim")]

    @property
    def total(self) -> int:
        return len(self.mirrors)

    @property
    def done(self) -> int:
        return len(self.scores)

    @property
    def scorer_name(self) -> str:
        from console.evals.scorers import name_of

        return name_of(self.scorer)


class SliceScoring(ScoringRun):
    """A judge run over a slice of the request log (``console.slice_scoring``): the
    requests a filter found when it was asked for (``logs``: their row ids, newest
    first, at most ``MAX_LOGS``), each one's grade saved as it comes (``scored``: log id
    -> value or None for unscored) and written as a ``gateway.models.Score`` (source
    ``judge``) under ``score_name``. Run in the background like an experiment: the same
    runner and lease (``console.evals.runner``), so a restarted process resumes it."""

    filters = models.JSONField(default=dict)  # the log filter (gateway.telemetry.logquery)
    score_name = models.CharField(max_length=100)
    logs = models.JSONField(default=list)
    scored = models.JSONField(default=dict, blank=True)
    mean = models.FloatField(null=True, blank=True)  # of the scored, when done

    class Meta(ScoringRun.Meta):
        indexes = [models.Index(fields=["status", "lease_until"], name="evals_slice_claim")]

    @property
    def total(self) -> int:
        return len(self.logs)

    @property
    def done(self) -> int:
        return len(self.scored)

    @property
    def unscored(self) -> int:
        return sum(1 for value in self.scored.values() if value is None)


class Evaluator(models.Model):
    """A scorer watching production traffic (``console.evals.continuous``): the requests
    of ``route`` (and/or carrying ``tag``) that match ``filters``, sampled at
    ``sample_rate``, are scored after the fact (read from the journal, never on the
    request path) by ``scorer`` (a pointwise judge or a rule), each score a
    ``gateway.models.Score`` named ``score_name`` with the judge's reasoning. The judge's
    calls stop for the UTC day once they cost ``budget_usd_per_day``. ``cursor`` is the
    newest log row looked at, so a restart neither rescored nor skips.

    ``status`` active or paused; the runner is started once one is active
    (``hooks.BackgroundTask.jobs``: ``UNFINISHED``) and one process of all holds the
    ``continuous-evaluators`` lease."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        PAUSED = "paused"

    UNFINISHED = (Status.ACTIVE,)

    name = models.CharField(max_length=100, unique=True)
    route = models.CharField(max_length=200, blank=True)
    tag = models.CharField(max_length=200, blank=True)
    filters = models.JSONField(default=dict, blank=True)  # status, key, end_user, q
    scorer = models.JSONField()  # one validated scorer (console.evals.scorers)
    score_name = models.CharField(max_length=100)
    sample_rate = models.FloatField(default=0.1)
    budget_usd_per_day = models.DecimalField(max_digits=12, decimal_places=4, default=Decimal("1"))
    alert_below = models.FloatField(null=True, blank=True)
    alert_window = models.PositiveIntegerField(default=20)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    cursor = models.BigIntegerField(default=0)  # the newest log id looked at
    spent_day = models.DateField(null=True, blank=True)
    spent_usd = models.DecimalField(max_digits=14, decimal_places=8, default=Decimal("0"))
    sampled = models.PositiveIntegerField(default=0)
    scored = models.PositiveIntegerField(default=0)
    unscored = models.PositiveIntegerField(default=0)
    skipped_budget = models.PositiveIntegerField(default=0)
    alerting = models.BooleanField(default=False)  # the mean is below; told once until it recovers
    last_error = models.TextField(blank=True)
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return str(self.name)

    @property
    def author(self) -> str:
        """The ``Score.author`` of its scores."""
        return f"evaluator:{self.name}"[:200]

    @property
    def scorer_label(self) -> str:
        from console.evals.scorers import label_of

        return label_of(self.scorer)


class AnnotationQueue(models.Model):
    """A queue of logged requests for people to score (``console.evals.queues``): the
    score configs it asks for, and optionally a journal filter that fills it (``filters``:
    route, key, tag, status, since, until; ``sample``: the percent of matches taken, the
    same ones on every fill). ``lock_minutes``: how long an opened item stays its
    reviewer's."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    score_configs = models.ManyToManyField("gateway.ScoreConfig", related_name="queues")
    filters = models.JSONField(default=dict, blank=True)
    sample = models.PositiveSmallIntegerField(default=100)  # percent of matching requests
    lock_minutes = models.PositiveSmallIntegerField(default=10)
    dataset = models.ForeignKey(
        Dataset, null=True, blank=True, on_delete=models.SET_NULL, related_name="queues"
    )  # the last dataset made from its completed items
    created_by = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return str(self.name)


class QueueItem(models.Model):
    """One logged request in a queue: pending, done (scored by ``done_by``) or skipped;
    while a reviewer has it open it is theirs (``locked_by`` until ``locked_until``)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        SKIPPED = "skipped"

    class Source(models.TextChoices):
        FILTER = "filter"
        LOG = "log"
        SESSION = "session"
        EXPERIMENT = "experiment"

    queue = models.ForeignKey(AnnotationQueue, on_delete=models.CASCADE, related_name="items")
    log = models.ForeignKey("gateway.RequestLog", on_delete=models.CASCADE, related_name="+")
    source = models.CharField(max_length=12, choices=Source.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    locked_by = models.CharField(max_length=150, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    done_by = models.CharField(max_length=150, blank=True)
    done_at = models.DateTimeField(null=True, blank=True)
    added_by = models.CharField(max_length=150, blank=True)
    added_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["queue", "log"], name="evals_queue_item_once")
        ]
        indexes = [models.Index(fields=["queue", "status"], name="evals_queue_item_status")]
