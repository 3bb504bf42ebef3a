"""The tables of OpenAI's Conversations API and of background Responses (the Responses
feature's: ``gateway.features.responses.conversations`` and ``.background``), in the
store (``gateway.models``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Conversation(models.Model):
    """A conversation (``conv_...``): its items are ``ConversationItem`` rows. ``key_id``
    is the creating key (NULL: the master key); only that key sees it."""

    id: str = models.CharField(max_length=80, primary_key=True)
    key_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        # a key's count for its storage quota (gateway/core/storage_quota.py)
        indexes = [models.Index(fields=["key_id"], name="conversation_key")]

    def __str__(self) -> str:
        return self.id


class ConversationItem(models.Model):
    """One item of a conversation, in the order added (``seq``, the table's own counter:
    a list is newest first by it). ``response_id``: the background response whose turn
    added it ("" when added otherwise), so a turn run again after a crash replaces the
    items its lost run added instead of doubling them."""

    seq = models.BigAutoField(primary_key=True)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="items")
    item_id = models.CharField(max_length=120)
    item = models.JSONField()
    response_id = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "item_id"], name="conversation_item_unique"
            )
        ]

    def __str__(self) -> str:
        return str(self.item_id)


class BackgroundResponse(models.Model):
    """A Responses request created with ``background: true``: queued at once, run by
    whichever process claims its lease (``gateway.base.leases``), so one queued or in
    progress when its process dies is taken up by another. ``response`` is the response
    object as ``GET /v1/responses/{id}`` answers it now; ``attempt`` counts the runs (a
    run lost with its process starts again, and its stored events after the first go)."""

    UNFINISHED = ("queued", "in_progress")
    FINAL = ("completed", "failed", "incomplete", "cancelled")

    id: str = models.CharField(max_length=80, primary_key=True)
    key_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=20, default="queued")
    body = models.JSONField(help_text="the create body, as the run sends it")
    user_agent = models.CharField(max_length=300, blank=True)
    session = models.CharField(max_length=200, blank=True)
    response = models.JSONField(default=dict)
    attempt = models.IntegerField(default=0)
    events = models.IntegerField(default=0, help_text="events stored (sequence numbers 0..n-1)")
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    runner = models.CharField(max_length=120, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="background_response_queue")]

    def __str__(self) -> str:
        return self.id


class BackgroundEvent(models.Model):
    """One stream event of a background response, stored as it was produced, with its
    ``sequence_number`` (``GET /v1/responses/{id}?stream=true&starting_after=N``)."""

    response = models.ForeignKey(
        BackgroundResponse, on_delete=models.CASCADE, related_name="stored_events"
    )
    sequence = models.IntegerField()
    data = models.TextField(help_text="the event's JSON")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "sequence"], name="background_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.response_id}#{self.sequence}"
