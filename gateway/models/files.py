"""The files table. Tables of the ``gateway`` app in the store (``gateway.models``)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class StoredFile(models.Model):
    """A file uploaded through ``/v1/files`` or written by a batch (its output and
    error files). The bytes live in the file store under ``id``; the row is created
    only after they were written, so a failed upload leaves no row. ``key_id`` is the
    owning key (NULL: the master key); only that key (and the master key) sees it."""

    id: str = models.CharField(max_length=64, primary_key=True)
    purpose = models.CharField(max_length=40)
    filename = models.CharField(max_length=255)
    bytes = models.BigIntegerField()
    key_id = models.BigIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=20, default="processed")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["key_id", "created_at"], name="stored_file_key_time")]

    def __str__(self) -> str:
        return self.id
