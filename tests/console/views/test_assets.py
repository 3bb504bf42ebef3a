"""The console's static files: found through the finders, sent whole (not streamed)
with caching headers, 304 when unchanged, 404 for anything outside them."""

from __future__ import annotations

import pytest
from django.contrib.staticfiles import finders
from django.test import Client


@pytest.mark.django_db
def test_static_files_are_sent_whole_with_caching_headers() -> None:
    client = Client()
    response = client.get("/static/console/console.css")
    assert response.status_code == 200 and not response.streaming
    with open(finders.find("console/console.css"), "rb") as source:
        assert response.content == source.read()
    assert response["Content-Type"].startswith("text/css")
    assert response["Cache-Control"] == "public, max-age=3600"
    again = client.get(
        "/static/console/console.css", HTTP_IF_MODIFIED_SINCE=response["Last-Modified"]
    )
    assert again.status_code == 304
    assert client.get("/static/../gateway/server/settings.py").status_code == 404
    assert client.get("/static/console/nope.css").status_code == 404
