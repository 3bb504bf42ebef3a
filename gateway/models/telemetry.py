"""The telemetry tables: ``SpendRollup`` (spend per hour, key, end user, session, route
and model) and ``AuditEvent`` (the append-only trail of changes and logins).

Tables of the ``gateway`` app in the store (``gateway.models``)."""

from __future__ import annotations

import contextvars
from contextlib import AbstractContextManager
from typing import Any

from django.db import models
from django.utils import timezone

from gateway.base.scoped import scoped
from gateway.models import UsageCounts


class SpendRollup(UsageCounts):
    """Hourly spend per (hour, key, end user, session, route, upstream model), added by
    the journal writer in the same transaction as each batch of logs (like
    ``UsageRollup``), so ``/api/spend`` and the spend page read these rows, not the
    request log. Empty strings stand for "not given" (and key_id 0 for the master key),
    so a group is one unique row on every database."""

    hour = models.DateTimeField(help_text="start of the UTC hour")
    key_id = models.BigIntegerField(default=0)
    key_name = models.CharField(max_length=200, blank=True)
    end_user = models.CharField(max_length=200, blank=True)
    session = models.CharField(max_length=200, blank=True)
    route = models.CharField(max_length=200, blank=True)
    model = models.CharField(max_length=200, blank=True, help_text="upstream model")

    class Meta:
        app_label = "gateway"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "key_id", "key_name", "end_user", "session", "route", "model"],
                name="spend_rollup_group",
            )
        ]
        indexes = [
            models.Index(fields=["end_user", "hour"], name="spend_end_user_hour"),
            models.Index(fields=["session", "hour"], name="spend_session_hour"),
            models.Index(fields=["key_id", "hour"], name="spend_key_hour"),
        ]

    def __str__(self) -> str:
        return f"{self.hour:%Y-%m-%d %H}h key {self.key_id} {self.end_user} {self.session}"


class AppendOnly(Exception):
    """An audit event was to be changed or deleted (outside retention pruning)."""


# Set only by ``gateway.telemetry.audit.prune``: the one way audit rows are deleted.
pruning: contextvars.ContextVar[bool] = contextvars.ContextVar("audit_pruning", default=False)


def retention_pruning() -> AbstractContextManager[None]:
    return scoped(pruning, True)


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnly("audit events cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        if not pruning.get():
            raise AppendOnly("audit events are deleted only by retention pruning")
        deleted: tuple[int, dict[str, int]] = super().delete()
        return deleted

    def bulk_update(self, *args: Any, **kwargs: Any) -> int:
        raise AppendOnly("audit events cannot be changed")


class AuditEvent(models.Model):
    """One change (or login) made through the console, ``/api``, a config import, a
    management command or Django's admin: who, when, from where, what, and the fields
    changed (``changes``: {field: [before, after]}, secrets masked). Append-only: saving
    an existing row, deleting one or updating a queryset raises ``AppendOnly``; rows
    leave only through ``SWITCHYARD_AUDIT_RETENTION_DAYS`` pruning."""

    created_at = models.DateTimeField(default=timezone.now)
    actor_kind = models.CharField(
        max_length=20, help_text="user | key | master | command | system | anonymous"
    )
    actor = models.CharField(max_length=200, blank=True, help_text="user name or key name")
    actor_id = models.CharField(max_length=64, blank=True, help_text="user id or key prefix")
    source = models.CharField(max_length=20, help_text="console | api | import | command | admin")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=30)
    object_type = models.CharField(max_length=50, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_name = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    detail = models.TextField(blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        app_label = "gateway"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["-created_at", "-id"], name="audit_time"),
            models.Index(fields=["actor", "-created_at"], name="audit_actor_time"),
            models.Index(fields=["object_type", "object_id"], name="audit_object"),
            models.Index(fields=["action", "-created_at"], name="audit_action_time"),
        ]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor} {self.action} {self.object_type}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None and not kwargs.get("force_insert"):
            raise AppendOnly("audit events cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        if not pruning.get():
            raise AppendOnly("audit events are deleted only by retention pruning")
        deleted: tuple[int, dict[str, int]] = super().delete(*args, **kwargs)
        return deleted
