"""``/api/audit``: the audit trail filtered by action, object and time, paged newest
first by ``before``, exported as CSV or JSON; the master key or an admin only."""

from __future__ import annotations

import csv
import io

import pytest
from django.test import Client

from gateway.models import AuditEvent, Route
from gateway.telemetry import audit
from tests.gateway.telemetry.test_audit import api, console, staff  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def test_api_audit_filters_pages_and_exports(api, console):  # noqa: F811
    Route.objects.create(name="r1")
    console.post("/routes/new/", {"name": "r2", "strategy": "weighted", "max_attempts": 3})
    audit.record("login", object_type="user", object_name="ops")
    everything = api.get("/api/audit").json()
    assert len(everything["items"]) == AuditEvent.objects.count()
    by_action = api.get("/api/audit", {"action": "create", "object_type": "route"}).json()
    assert {e["object_name"] for e in by_action["items"]} >= {"r1"}
    page = api.get("/api/audit", {"limit": 1}).json()
    assert len(page["items"]) == 1 and page["next_before"] == page["items"][0]["id"]
    nxt = api.get("/api/audit", {"limit": 1, "before": page["next_before"]}).json()
    assert nxt["items"][0]["id"] < page["items"][0]["id"]
    assert api.get("/api/audit", {"since": "not-a-time"}).status_code == 422
    assert api.get("/api/audit", {"since": "1h"}).status_code == 200
    exported = api.get("/api/audit/export", {"format": "csv", "object_type": "route"})
    assert exported["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert rows and {r["object_type"] for r in rows} == {"route"}
    as_json = api.get("/api/audit/export", {"format": "json"}).json()
    assert len(as_json) == AuditEvent.objects.count()
    assert Client().get("/api/audit").status_code == 401
