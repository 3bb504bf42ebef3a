"""The batch tables. Tables of the ``gateway`` app in the store (``gateway.models``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Batch(models.Model):
    """One batch job, OpenAI's (``batch_...``) or Anthropic's (``msgbatch_...``).

    ``status`` is OpenAI's vocabulary for both (validating, in_progress, finalizing,
    completed, failed, expired, cancelling, cancelled); the Anthropic shape maps it to
    its processing_status. Lines are ``BatchLine`` rows; a runner holds the batch
    through ``runner``/``lease_until`` (``gateway.features.batches.runner``)."""

    UNFINISHED = ("validating", "in_progress", "finalizing", "cancelling")

    id: str = models.CharField(max_length=64, primary_key=True)
    api = models.CharField(max_length=20, default="openai")  # openai | anthropic
    endpoint = models.CharField(max_length=40)  # /v1/chat/completions, ... /v1/messages
    key_id = models.BigIntegerField(null=True, blank=True)  # NULL: the master key
    key_name = models.CharField(max_length=200, blank=True)
    input_file_id = models.CharField(max_length=64, blank=True)
    completion_window = models.CharField(max_length=10, default="24h")
    metadata = models.JSONField(null=True, blank=True)
    status = models.CharField(max_length=20, default="validating")
    errors = models.JSONField(null=True, blank=True)
    output_file_id = models.CharField(max_length=64, blank=True)
    error_file_id = models.CharField(max_length=64, blank=True)
    total = models.IntegerField(default=0)
    completed = models.IntegerField(default=0)
    failed = models.IntegerField(default=0)
    cancelled = models.IntegerField(default=0)
    expired = models.IntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    in_progress_at = models.DateTimeField(null=True, blank=True)
    finalizing_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    failed_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    cancelling_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    runner = models.CharField(max_length=120, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # Submitted to the upstream's own batch API (gateway.features.batches.native): which
    # API ("" the gateway runs the lines), the deployment every line went to, and the
    # upstream's ids (kept so polling resumes after a restart).
    native = models.CharField(max_length=20, blank=True)
    deployment_id = models.BigIntegerField(null=True, blank=True)
    upstream_batch_id = models.CharField(max_length=200, blank=True)
    upstream_file_id = models.CharField(max_length=200, blank=True)
    # When the submission to the upstream began (Anthropic): set before the POST, so a
    # runner resuming a batch with this mark and no upstream id knows the POST may have
    # reached the upstream and looks for it there instead of sending it again.
    submitting_at = models.DateTimeField(null=True, blank=True)
    # USD of the key's (and its team's) budget a native batch holds until its results
    # are priced (gateway.features.batches.holds); 0 once released. Loading a key's spend
    # counts the holds of its batches, so a restarted counter holds them again.
    held_usd = models.DecimalField(max_digits=20, decimal_places=10, default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["key_id", "created_at"], name="batch_key_time"),
            models.Index(fields=["status"], name="batch_status"),
        ]

    def __str__(self) -> str:
        return self.id


class BatchLine(models.Model):
    """One request of a batch. ``outcome`` is empty until its result is recorded, and
    is recorded once: the runner's UPDATE is conditional on it still being empty, so a
    line run again after a restart never gets a second result."""

    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="lines")
    index = models.IntegerField()
    custom_id = models.CharField(max_length=200)
    body = models.JSONField()
    # "" pending | succeeded | errored | canceled | expired
    outcome = models.CharField(max_length=12, blank=True, default="")
    status_code = models.IntegerField(null=True, blank=True)
    request_id = models.CharField(max_length=64, blank=True)
    response = models.JSONField(null=True, blank=True)
    cost_usd = models.DecimalField(max_digits=20, decimal_places=10, default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["batch", "index"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "index"], name="batch_line_unique"),
        ]
        indexes = [models.Index(fields=["batch", "outcome"], name="batch_line_outcome")]

    def __str__(self) -> str:
        return f"{self.batch_id}#{self.index}"
