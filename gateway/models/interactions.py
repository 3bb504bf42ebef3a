"""The stored interactions table (the Gemini Interactions API). Tables of the
``gateway`` app in the store (``gateway.models``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class StoredInteraction(models.Model):
    """An interaction kept for ``GET /v1beta/interactions/{id}``, for chaining with
    ``previous_interaction_id`` (``store`` true, the API's default) and for a
    ``background`` one while it runs (``status`` in_progress until its task writes the
    answer; ``cancel`` sets cancelled, which the task's write then leaves alone).

    Each row keeps its own turn: ``input_steps`` (the create body's input as steps)
    and the ``interaction`` resource as answered (its ``steps`` are the model's), and
    links to the one before; a chain is read back in one recursive query. ``events``
    is a streamed create's server-sent events as sent, so ``?stream=true&
    last_event_id=`` resumes with the same event ids ("" when not streamed: the
    replay is built from the resource). ``key_id`` is the creating key (NULL: the
    master key); only that key sees the interaction."""

    id: str = models.CharField(max_length=80, primary_key=True)
    key_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    route = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=30, blank=True)
    previous_interaction_id = models.CharField(max_length=80, blank=True)
    background = models.BooleanField(default=False)
    input_steps = models.JSONField(default=list, blank=True)
    interaction = models.JSONField(default=dict, help_text="the interaction as answered")
    events = models.TextField(blank=True, help_text="a streamed answer's events as sent")

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["created_at"], name="stored_interaction_time"),
            # a key's count for its storage quota (gateway/core/storage_quota.py)
            models.Index(fields=["key_id"], name="stored_interaction_key"),
        ]

    def __str__(self) -> str:
        return self.id
