"""The audit log: who changed what and when, from where, with the fields changed
(secrets masked when written); filtered by actor, object, action, source and time,
paged by id, exported as CSV or JSON with the same filters. Read-only: the trail is
append-only (``gateway.telemetry.audit``)."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone

from gateway.models.telemetry import AuditEvent
from gateway.telemetry import audit, audit_query, logquery
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest

PAGE = 50
ACTIONS = [
    "create", "update", "delete", "import", "login", "login_failed", "export", "start",
    "cancel", "resume", "review", "row_edit", "row_delete", "tool_call", "sso_provision", "post",
    "put", "patch",
]  # fmt: skip
SOURCES = ["console", "api", "admin", "import", "command", "login", "sso", "system"]


class AuditFilterForm(forms.Form):
    actor = forms.CharField(required=False, max_length=200)
    object_type = forms.ChoiceField(required=False, label="Object")
    action = forms.ChoiceField(
        required=False, choices=[("", "Any action")] + [(a, a.replace("_", " ")) for a in ACTIONS]
    )
    source = forms.ChoiceField(
        required=False, choices=[("", "Any source")] + [(s, s) for s in SOURCES]
    )
    since = forms.CharField(required=False, label="Since", help_text="7d, 12h or a date")
    until = forms.CharField(required=False, label="Until")
    q = forms.CharField(required=False, label="Search", max_length=200)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        types = AuditEvent.objects.order_by().values_list("object_type", flat=True).distinct()
        self.fields["object_type"].choices = [("", "Any object")] + [
            (t, t) for t in sorted(set(types)) if t
        ]


def _params(request: HtmxHttpRequest) -> dict[str, str]:
    return {name: request.GET.get(name, "") for name in audit_query.FILTERS}


@staff_required
def audit_page(request: HtmxHttpRequest) -> HttpResponse:
    form = AuditFilterForm(request.GET or None)
    error = ""
    events: list[AuditEvent] = []
    more = False
    try:
        rows = audit_query.events(_params(request))
        before = request.GET.get("before", "")
        if before.isdigit():
            rows = rows.filter(id__lt=int(before))
        events = list(rows.order_by("-id")[: PAGE + 1])
        more = len(events) > PAGE
        events = events[:PAGE]
    except logquery.InvalidFilter as exc:
        error = str(exc)
    for event in events:
        event.changes_json = json.dumps(event.changes, indent=1, sort_keys=True, default=str)
    params = request.GET.copy()
    params.pop("before", None)
    next_params = params.copy()
    if more and events:
        next_params["before"] = str(events[-1].id)
    context = {
        "form": form,
        "events": events,
        "error": error,
        "next_query": next_params.urlencode() if more else "",
        "export_query": params.urlencode(),
        "filtered": any(request.GET.get(n) for n in audit_query.FILTERS),
        "retention": audit.retention_days(),
    }
    return render(request, "console/audit.html", context)


@staff_required
def audit_export(request: HtmxHttpRequest) -> HttpResponse:
    """Every event matching the page's filters, as CSV (default) or JSON."""
    try:
        rows = audit_query.events(_params(request))
    except logquery.InvalidFilter as exc:
        return HttpResponse(str(exc), status=400, content_type="text/plain")
    stamp = f"{timezone.now():%Y-%m-%d}"
    fmt = "json" if request.GET.get("format") == "json" else "csv"
    audit.exported("audit", f"audit log as {fmt} ({request.GET.urlencode()[:200]})")
    if fmt == "json":
        body = json.dumps(
            [audit_query.as_dict(e) for e in rows.iterator(chunk_size=2000)], default=str
        )
        response = HttpResponse(body, content_type="application/json")
        response["Content-Disposition"] = f'attachment; filename="switchyard-audit-{stamp}.json"'
        return response
    response = HttpResponse(
        "".join(audit_query.csv_lines(rows)), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="switchyard-audit-{stamp}.csv"'
    return response
