"""``/api/dashboards``: pins, lists and unpins charts under the same rule
(``dashboard.pin``) as the board's pages; a field outside the choices or a board not
the caller's is a 422 naming it."""

from __future__ import annotations

import json

from django.test import Client

from gateway.models import PinnedChart

PIN = {"metric": "requests", "group_by": "route", "window": "24h"}


def api(client: Client, method: str, url: str, body: dict | None = None):  # type: ignore[no-untyped-def]
    call = getattr(client, method)
    if body is None:
        return call(url)
    return call(url, data=json.dumps(body), content_type="application/json")


def test_the_api_pins_lists_and_unpins_within_the_same_rule(people) -> None:
    red, blue = people["red"], people["blue"]
    member, owner = people["member"], people["owner"]
    made = api(member, "post", "/api/dashboards/", {**PIN, "team": red.pk})
    assert made.status_code == 201 and made.json()["team"] == "red"
    assert api(member, "post", "/api/dashboards/", PIN).status_code == 403  # the global board
    other = api(member, "post", "/api/dashboards/", {**PIN, "team": blue.pk})
    assert other.status_code == 422 and "team" in other.json()["errors"]
    bad = api(member, "post", "/api/dashboards/", {**PIN, "team": red.pk, "metric": "vibes"})
    assert bad.status_code == 422 and "metric" in bad.json()["errors"]
    assert api(owner, "post", "/api/dashboards/", {**PIN, "team": blue.pk}).status_code == 201
    assert api(owner, "post", "/api/dashboards/", PIN).json()["team"] is None
    seen = [c["team"] for c in api(member, "get", "/api/dashboards/").json()]
    assert seen == ["red"]  # blue's and the global board's are not theirs to see
    assert len(api(owner, "get", "/api/dashboards/").json()) == 3
    assert [c["team"] for c in api(owner, "get", "/api/dashboards/?team=global").json()] == [None]
    blue_chart = PinnedChart.objects.get(team=blue)
    assert api(member, "delete", f"/api/dashboards/{blue_chart.pk}").status_code == 404
    assert (
        api(people["viewer"], "delete", f"/api/dashboards/{made.json()['id']}").status_code == 403
    )
    assert api(member, "delete", f"/api/dashboards/{made.json()['id']}").status_code == 204
    assert PinnedChart.objects.count() == 2
