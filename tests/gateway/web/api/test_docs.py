"""The API's Swagger UI page (``gateway.web.api.docs``): rendered from ninja's template
with the vendored files, never a CDN, pointing at the document; the CSRF header is added
only where an authentication of the API asks for it."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.test import Client

from gateway.web.api.docs import _auths

MASTER = "sy-master-docs-test"


@pytest.fixture(autouse=True)
def master(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


def test_the_docs_page_uses_the_vendored_swagger_ui_not_a_cdn(db) -> None:
    from django.contrib.staticfiles import finders

    page = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}").get("/api/docs").content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in page
    assert "cdn.jsdelivr.net" not in page and "unpkg.com" not in page
    assert '"url": "/api/openapi.json"' in page
    for name in ("ninja/swagger-ui-bundle.js", "ninja/swagger-ui.css"):
        assert finders.find(name), name  # collectstatic and the static view find it


def test_the_api_session_auth_adds_csrf_to_the_page(db) -> None:
    page = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}").get("/api/docs").content.decode()
    assert 'data-api-csrf="true"' in page  # the staff session's auth has csrf set


def test_an_api_without_a_list_of_auths_has_none() -> None:
    auths = [object()]
    assert _auths(SimpleNamespace(auth=auths)) is auths  # type: ignore[arg-type]
    assert _auths(SimpleNamespace(auth=None)) == ()  # type: ignore[arg-type]
