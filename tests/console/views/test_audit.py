"""The audit log page and its export (``console.views.audit``): filtered by the form's
fields, paged by id (older events behind a link that keeps the filters), a filter it
cannot read said on the page (and a 400 from the export), the object types offered from
the events there are, and CSV or JSON of everything the filters match, itself audited."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from console.views import audit as audit_view
from gateway.models.telemetry import AuditEvent
from gateway.telemetry import audit


@pytest.fixture
def trail(db) -> list[AuditEvent]:
    return [
        audit.record("create", object_type="route", object_name=f"r{i}", changes={"n": [0, i]})
        for i in range(5)
    ] + [audit.record("delete", object_type="provider", object_name="gone")]


def test_the_page_filters_and_pages_by_id(staff_client: Client, trail, monkeypatch) -> None:
    monkeypatch.setattr(audit_view, "PAGE", 2)
    first = staff_client.get("/audit/", {"object_type": "route"})
    assert first.status_code == 200
    shown = [e.object_name for e in first.context["events"]]
    assert shown == ["r4", "r3"]  # newest first, the page's size
    assert first.context["filtered"] and first.context["export_query"] == "object_type=route"
    nxt = first.context["next_query"]
    assert nxt == f"object_type=route&before={trail[3].id}"
    second = staff_client.get(f"/audit/?{nxt}")
    assert [e.object_name for e in second.context["events"]] == ["r2", "r1"]
    exactly_a_page = staff_client.get(f"/audit/?object_type=route&before={trail[2].id}")
    assert [e.object_name for e in exactly_a_page.context["events"]] == ["r1", "r0"]
    assert exactly_a_page.context["next_query"] == ""  # no link to an empty page
    last = staff_client.get(f"/audit/?object_type=route&before={trail[1].id}")
    assert [e.object_name for e in last.context["events"]] == ["r0"]
    assert last.context["next_query"] == ""  # nothing older
    assert json.loads(last.context["events"][0].changes_json) == {"n": [0, 0]}
    types = dict(first.context["form"].fields["object_type"].choices)
    assert {"route", "provider", ""} <= set(types)


def test_a_filter_it_cannot_read_is_said_not_raised(staff_client: Client, trail) -> None:
    page = staff_client.get("/audit/", {"since": "not-a-time"})
    assert page.status_code == 200 and page.context["error"] and not page.context["events"]
    assert 'class="alert error"' in page.content.decode()
    refused = staff_client.get("/audit/export", {"since": "not-a-time"})
    assert refused.status_code == 400 and refused["Content-Type"] == "text/plain"


def test_the_export_as_csv_or_json_with_the_filters(staff_client: Client, trail) -> None:
    exported = staff_client.get("/audit/export", {"action": "delete"})
    assert exported["Content-Type"] == "text/csv; charset=utf-8"
    assert exported["Content-Disposition"].startswith('attachment; filename="switchyard-audit-')
    rows = list(csv.DictReader(io.StringIO(exported.content.decode())))
    assert [r["object_name"] for r in rows] == ["gone"]
    as_json = staff_client.get("/audit/export", {"object_type": "route", "format": "json"})
    assert as_json["Content-Disposition"].endswith('.json"')
    assert sorted(e["object_name"] for e in as_json.json()) == [f"r{i}" for i in range(5)]
    noted = AuditEvent.objects.filter(action="export", object_type="audit")
    assert [e.detail.split(" (")[0] for e in noted.order_by("id")] == [
        "audit log as csv", "audit log as json",
    ]  # fmt: skip


def test_signed_out_readers_are_sent_to_sign_in(db) -> None:
    assert Client().get("/audit/").status_code == 302
    assert Client().get("/audit/export").status_code == 302
