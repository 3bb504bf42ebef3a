"""The Logs page's "Pin a chart" carries the page's filters as a pin holds them (a
board's window, "any error" as the errors metric, a route's requests grouped by model)
and sends each filter a pin cannot hold to the form, which says it leaves them out;
before, the link was the same whatever the filters. A filter changed through htmx
refreshes the link too."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.features.dashboards import pin_query
from gateway.models import RequestLog


@pytest.fixture
def owner(db) -> Client:
    user = User.objects.create_user("owner", password="pw-123456789")
    roles.set_role(user, roles.OWNER)
    client = Client()
    client.force_login(user)
    RequestLog.objects.create(request_id="r1", route="chat", status=500)
    return client


def _link(html: str) -> dict[str, list[str]]:
    start = html.index('id="pin-link"')
    tag = html[html.rindex("<a", 0, start) : html.index(">", start)]
    href = tag.split('href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    return parse_qs(urlsplit(href).query)


def test_what_a_pin_holds_is_carried_and_the_rest_named() -> None:
    query = parse_qs(pin_query({"window": "1h", "status": "error", "route": "chat", "tag": "eu"}))
    assert query["metric"] == ["errors"] and query["window"] == ["1h"]
    assert query["group_by"] == ["model"]  # a route's requests: one bar by route
    assert query["unpinned"] == ["route: chat", "tag: eu"]
    assert parse_qs(pin_query({"window": "30d", "status": "5xx"}))["unpinned"] == [
        "window: 30d",
        "status: 5xx",
    ]
    assert parse_qs(pin_query({})) == {
        "metric": ["requests"],
        "group_by": ["route"],
        "window": ["24h"],
    }


def test_the_logs_link_carries_the_filters_into_the_form(owner) -> None:
    page = owner.get("/logs/?route=chat&window=7d&status=error&tag=eu&q=timeout").content
    link = _link(page.decode())
    assert (link["metric"], link["group_by"], link["window"]) == (["errors"], ["model"], ["7d"])
    assert link["unpinned"] == ["route: chat", "search: timeout", "tag: eu"]
    form = owner.get("/dashboard/pin/", link).content.decode()
    assert 'id="pin-unpinned"' in form
    assert "route: chat" in form and "search: timeout" in form and "tag: eu" in form
    assert '<option value="errors" selected>' in form and '<option value="7d" selected>' in form
    refused = owner.post("/dashboard/pin/", {**{k: v[0] for k, v in link.items()}, "metric": "x"})
    assert refused.status_code == 422 and "route: chat" in refused.content.decode()


def test_a_filter_changed_through_htmx_refreshes_the_link(owner) -> None:
    answer = owner.get("/logs/?route=chat", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="log-results")
    html = answer.content.decode()
    assert 'hx-swap-oob="true"' in html and _link(html)["unpinned"] == ["route: chat"]
    whole = owner.get("/logs/").content.decode()
    assert whole.count('id="pin-link"') == 1 and "hx-swap-oob" not in whole
