"""The usage CSV export (``console.views.usage``): per day, key and route over the
window asked for, named after it and the day, audited as an export; the master key's
rows apart; signed-out readers sent to sign in."""

from __future__ import annotations

import csv
import io
import re
from datetime import datetime

from django.test import Client

from console import usage
from gateway.models import AuditEvent


def test_csv_export_per_day_key_and_route(
    staff_client: Client, rollups: None, usage_today: datetime
) -> None:
    response = staff_client.get("/usage/export.csv?window=30d")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert re.match(
        r'attachment; filename="switchyard-usage-30d-\d{4}-\d{2}-\d{2}.csv"',
        response["Content-Disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == list(usage.CSV_COLUMNS)
    assert len(rows) == 5  # the 45-day-old row is outside the window
    today = [
        r
        for r in rows
        if r["date"] == usage_today.date().isoformat() and r["key_name"] == "research"
    ]
    assert {(r["route"], r["cost_usd"]) for r in today} == {
        ("chat", "0.50000000"),
        ("embed", "0.25000000"),
    }
    master = next(r for r in rows if r["key_name"] == "master key")
    assert master["key_id"] == "" and master["requests"] == "3"
    ci = next(r for r in rows if r["key_name"] == "ci")
    assert ci["errors"] == "1" and ci["cost_usd"] == "0.00040000"
    assert Client().get("/usage/export.csv").status_code == 302
    event = AuditEvent.objects.get(action="export")
    assert event.object_type == "usage" and "over 30d" in event.detail
