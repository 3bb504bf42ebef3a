"""The log filter offers every inbound dialect the gateway journals, Gemini included."""

from __future__ import annotations

import pytest

from console.forms import LogFilterForm
from console.views.logs import query_params
from gateway.models import RequestLog
from gateway.telemetry import logquery


@pytest.mark.django_db
def test_gemini_requests_can_be_filtered() -> None:
    RequestLog.objects.create(request_id="g-1", dialect="gemini", endpoint="chat", status=200)
    RequestLog.objects.create(request_id="o-1", dialect="openai", endpoint="chat", status=200)
    form = LogFilterForm({"dialect": "gemini"})
    assert form.is_valid(), form.errors
    rows = logquery.filtered(query_params(form.cleaned_data))
    assert [r.request_id for r in rows] == ["g-1"]
