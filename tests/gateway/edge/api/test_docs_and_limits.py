"""/api/docs and /api/openapi.json need a signed-in staff user or the master key (a
browser without a session is sent to sign in); an oversize /api body is a JSON 413."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

MASTER = "sy-master-docs-test"
DOCS = ("/api/docs", "/api/openapi.json")


@pytest.fixture(autouse=True)
def master(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


@pytest.mark.parametrize("path", DOCS)
def test_anonymous_callers_get_nothing(db, path: str) -> None:
    assert Client().get(path).status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get(path).status_code == 401
    browser = Client().get(path, HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert browser.status_code == 302 and "/login/?next=" in browser["Location"]
    user = User.objects.create_user("bob", password="pw-1234567", is_staff=False)
    client = Client()
    client.force_login(user)
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", DOCS)
def test_staff_and_the_master_key_get_them(db, path: str) -> None:
    assert Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}").get(path).status_code == 200
    assert Client(HTTP_X_API_KEY=MASTER).get(path).status_code == 200
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-1234567", is_staff=True))
    response = client.get(path)
    assert response.status_code == 200
    if path.endswith(".json"):
        assert "/api/providers/" in response.json()["paths"]


def test_an_oversize_body_is_a_json_413(db, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1024
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    response = api.post(
        "/api/providers/",
        {"name": "x", "kind": "echo", "base_url": "x" * 4096},
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response["content-type"].startswith("application/json")
    assert "exceeded" in response.json()["detail"]


def test_the_docs_page_uses_the_vendored_swagger_ui_not_a_cdn(db) -> None:
    from django.contrib.staticfiles import finders

    page = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}").get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assert '"url": "/api/openapi.json"' in page
    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css"):
        assert finders.find(name), name  # collectstatic and the static view find it
