"""Scores in the console: a thumbs up or down with a comment on a request's page (htmx
swaps the card; one vote per user), the log list filtered by score, the Scores page's
per-route chart data. Judging a slice of the log from the page:
``tests/console/test_slice_scoring.py``."""

from __future__ import annotations

import json

from django.test import Client

from gateway.models import Score


def test_thumbs_and_a_comment_on_a_request(staff_client: Client, registry_rows) -> None:
    page = staff_client.get("/logs/req-1/").content.decode()
    assert 'id="log-scores"' in page and "No scores yet." in page
    swapped = staff_client.post("/logs/req-1/score/", {"value": "down", "comment": "made up a fact"},
                                HTTP_HX_REQUEST="true")  # fmt: skip
    html = swapped.content.decode()
    assert swapped.status_code == 200 and html.lstrip().startswith('<div class="card log-scores"')
    assert "thumbs: down" in html and "made up a fact" in html and 'aria-pressed="true"' in html
    # a second vote replaces the first; without JavaScript: back to the page
    again = staff_client.post("/logs/req-1/score/", {"value": "up"})
    assert again.status_code == 302 and again["Location"] == "/logs/req-1/"
    assert list(Score.objects.values_list("name", "value", "label", "source", "author")) == [
        ("thumbs", 1.0, "up", "user", "ops")
    ]
    refused = staff_client.post("/logs/req-1/score/", {"value": "sideways"}, HTTP_HX_REQUEST="true")
    assert refused.status_code == 422 and "up/down" in refused.content.decode()
    assert staff_client.post("/logs/nope/score/", {"value": "up"}).status_code == 404
    # the log list finds it by score
    assert "req-1" in staff_client.get("/logs/?score=thumbs%3Dup").content.decode()
    assert "req-1" not in staff_client.get("/logs/?score=thumbs%3Ddown").content.decode()


def test_the_scores_page_charts_the_mean_per_route(staff_client: Client, registry_rows) -> None:
    staff_client.post("/logs/req-1/score/", {"value": "up"})
    page = staff_client.get("/scores/?name=thumbs&window=24h").content.decode()
    start = page.index('<script id="scores-data" type="application/json">') + 49
    data = json.loads(page[start : page.index("</script>", start)])
    assert [s["name"] for s in data["series"]] == ["chat"]
    assert data["series"][0]["values"] == [1.0] and len(data["x"]) == 1
    assert 'data-format="score"' in page and "Judge a slice of the log" in page
