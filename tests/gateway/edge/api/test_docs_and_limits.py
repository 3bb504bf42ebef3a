"""An oversize /api body is a JSON 413. (Who may read /api/docs and /api/openapi.json:
``tests/gateway/web/api/test_auth.py``; the docs page: ``tests/gateway/web/api/test_docs.py``.)"""

from __future__ import annotations

import pytest
from django.test import Client

MASTER = "sy-master-docs-test"


@pytest.fixture(autouse=True)
def master(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


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
