"""The console's side of prompt caching: the route form's automatic-breakpoints switch
and the request log detail's cached tokens and breakpoints sent."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from gateway.models import RequestLog


def test_route_form_turns_automatic_breakpoints_off_and_on(
    staff_client: Client, registry_rows
) -> None:
    route = registry_rows["route"]
    assert route.auto_cache_breakpoints is True
    base = {"name": route.name, "strategy": "weighted", "max_attempts": 2, "enabled": "on"}
    html = staff_client.post(f"/routes/{route.pk}/", base, HTTP_HX_REQUEST="true").content
    route.refresh_from_db()
    assert route.auto_cache_breakpoints is False  # an unticked box posts nothing
    assert "client's breakpoints only" in html.decode()
    staff_client.post(
        f"/routes/{route.pk}/", {**base, "auto_cache_breakpoints": "on"}, HTTP_HX_REQUEST="true"
    )
    route.refresh_from_db()
    assert route.auto_cache_breakpoints is True
    form = staff_client.get(f"/routes/{route.pk}/", HTTP_HX_REQUEST="true").content.decode()
    assert re.search(r'<input type="checkbox" name="auto_cache_breakpoints"[^>]* checked>', form)


@pytest.mark.django_db
def test_log_detail_shows_cached_tokens_and_breakpoints_sent(staff_client: Client) -> None:
    RequestLog.objects.create(
        request_id="r-cached",
        dialect="openai",
        endpoint="chat",
        status=200,
        input_tokens=40,
        cache_read_tokens=2600,
        cache_write_tokens=1250,
        prompt_cache_breakpoints="auto: tools, system, messages[1]",
    )
    html = staff_client.get("/logs/r-cached/").content.decode()
    assert "Prompt cache" in html
    assert "2600 tokens" in html and "1250 tokens" in html
    assert "auto: tools, system, messages[1]" in html
    RequestLog.objects.create(request_id="r-plain", dialect="openai", endpoint="chat", status=200)
    assert "Prompt cache" not in staff_client.get("/logs/r-plain/").content.decode()
