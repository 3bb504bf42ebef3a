"""The telemetry tables (``gateway.models.telemetry``): audit events are append-only (no
save of a stored row, no update, no delete) except inside retention pruning; a spend
rollup is once per group."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from gateway.models.telemetry import (
    AppendOnly,
    AuditEvent,
    SpendRollup,
    pruning,
    retention_pruning,
)

pytestmark = pytest.mark.django_db
HOUR = datetime(2026, 3, 4, 5, tzinfo=UTC)


def event(**fields) -> AuditEvent:  # type: ignore[no-untyped-def]
    return AuditEvent.objects.create(
        actor_kind="user", actor="ada", source="api", action="update", **fields
    )


def test_an_audit_event_is_written_once_and_never_changed() -> None:
    row = event(object_type="route", created_at=HOUR)
    assert str(row) == "2026-03-04 05:00:00 ada update route"
    row.detail = "rewritten"
    with pytest.raises(AppendOnly):
        row.save()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.filter(pk=row.pk).update(detail="x")
    with pytest.raises(AppendOnly):
        AuditEvent.objects.bulk_update([row], ["detail"])
    assert AuditEvent.objects.get(pk=row.pk).detail == ""


def test_audit_events_leave_only_through_retention_pruning() -> None:
    first, second = event(), event()
    with pytest.raises(AppendOnly):
        first.delete()
    with pytest.raises(AppendOnly):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 2
    with retention_pruning():
        assert pruning.get()
        first.delete()
        AuditEvent.objects.filter(pk=second.pk).delete()
    assert not pruning.get()
    assert AuditEvent.objects.count() == 0


def test_pruning_ends_with_its_block_even_when_it_raises() -> None:
    with pytest.raises(RuntimeError), retention_pruning():
        raise RuntimeError
    assert not pruning.get()


def test_a_spend_rollup_is_once_per_group() -> None:
    row = SpendRollup.objects.create(hour=HOUR, key_id=3, end_user="u", session="s")
    assert str(row) == "2026-03-04 05h key 3 u s"
    with pytest.raises(IntegrityError), transaction.atomic():
        SpendRollup.objects.create(hour=HOUR, key_id=3, end_user="u", session="s")
    SpendRollup.objects.create(hour=HOUR, key_id=3, end_user="u", session="other")
