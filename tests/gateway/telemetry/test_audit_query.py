"""Reading the audit log (``gateway.telemetry.audit_query``): each filter narrows the
events (times as ISO, epoch seconds or an age; a bad one refused), text searches the
object, actor and detail, newest first; the CSV export has a header, changes as JSON,
and no cell a spreadsheet would run as a formula."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from gateway.models.telemetry import AuditEvent
from gateway.telemetry import audit_query, logquery

pytestmark = pytest.mark.django_db
NOW = datetime.now(UTC)


def event(action: str, age_days: int = 0, **fields) -> AuditEvent:  # type: ignore[no-untyped-def]
    defaults = {"actor_kind": "user", "actor": "ada", "source": "console", "object_type": "route"}
    return AuditEvent.objects.create(
        action=action, created_at=NOW - timedelta(days=age_days), **{**defaults, **fields}
    )


def test_each_filter_narrows_the_events_newest_first() -> None:
    old = event("create", age_days=10, object_id="1", object_name="chat")
    new = event("update", actor="bob", source="api", object_id="2", detail="moved to EU")
    key = event("revoke", object_type="key", object_id="1")
    assert list(audit_query.events({})) == [key, new, old]
    assert list(audit_query.events({"actor": " bob ", "action": ""})) == [new]
    assert list(audit_query.events({"object_type": "route", "object_id": "1"})) == [old]
    assert list(audit_query.events({"source": "api"})) == [new]
    assert list(audit_query.events({"since": "7d"})) == [key, new]
    assert list(audit_query.events({"until": "7d"})) == [old]
    assert list(audit_query.events({"since": str((NOW - timedelta(days=1)).timestamp())})) == [
        key,
        new,
    ]
    assert list(audit_query.events({"q": "CHAT"})) == [old]
    assert list(audit_query.events({"q": "eu"})) == [new]
    assert list(audit_query.events({"q": "bo"})) == [new]


def test_a_bad_time_is_refused() -> None:
    with pytest.raises(logquery.InvalidFilter):
        list(audit_query.events({"since": "yesterday-ish"}))


def test_an_event_exports_every_field_with_its_time_in_iso() -> None:
    row = event("update", changes={"name": ["a", "b"]}, ip="10.0.0.1")
    out = audit_query.as_dict(row)
    assert tuple(out) == audit_query.EXPORT_FIELDS
    assert out["created_at"] == row.created_at.isoformat()
    assert out["changes"] == {"name": ["a", "b"]} and out["ip"] == "10.0.0.1"


def test_the_csv_has_a_header_json_changes_and_no_formula_cells() -> None:
    event("update", object_name="=HYPERLINK(1)", detail="@me", changes={"b": 1, "a": [1, 2]})
    text = "".join(audit_query.csv_lines(AuditEvent.objects.all()))
    header, row = list(csv.reader(io.StringIO(text)))
    assert header == list(audit_query.EXPORT_FIELDS)
    cell = dict(zip(header, row, strict=True))
    assert cell["object_name"] == "'=HYPERLINK(1)" and cell["detail"] == "'@me"
    assert cell["changes"] == '{"a": [1, 2], "b": 1}'
    assert cell["ip"] == "" and cell["actor"] == "ada"
