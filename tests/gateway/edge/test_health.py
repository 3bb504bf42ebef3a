"""The health endpoints: liveness always, readiness not while draining nor without the
database (its detail logged, never in the public answer), and ``GET /health`` checking
every upstream for the master key only (401 JSON else)."""

from __future__ import annotations

import logging

import orjson
import pytest
from django.test import Client, RequestFactory

from gateway.base import lifecycle
from gateway.edge import health
from tests.gateway.ops.test_deployment_health import (  # noqa: F401 (the fixture)
    MASTER,
    SECRET,
    registry_rows,
    upstreams,
)


async def test_the_process_is_alive() -> None:
    probe = await health.liveliness(RequestFactory().get("/health/liveliness"))
    assert (probe.status_code, orjson.loads(probe.content)) == (200, {"status": "alive"})


@pytest.mark.django_db
async def test_ready_when_the_database_answers(monkeypatch) -> None:
    monkeypatch.setattr(lifecycle, "_draining", False)
    probe = await health.readiness(RequestFactory().get("/health/readiness"))
    assert probe.status_code == 200
    assert orjson.loads(probe.content) == {"status": "ready", "database": "ok"}


async def test_not_ready_while_draining(monkeypatch) -> None:
    monkeypatch.setattr(lifecycle, "_draining", True)
    assert await health.ready() == (503, {"status": "shutting down"})


async def test_a_database_that_fails_is_unavailable_without_its_words(monkeypatch, caplog) -> None:
    monkeypatch.setattr(lifecycle, "_draining", False)

    def refuses() -> bool:
        raise RuntimeError("could not connect to db.internal as admin")

    monkeypatch.setattr(health, "_database_ok", refuses)
    with caplog.at_level(logging.ERROR, logger="gateway.edge.health"):
        status, payload = await health.ready()
    assert (status, payload) == (503, {"status": "unavailable", "database": "unavailable"})
    assert "db.internal" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_get_health_needs_the_master_key_and_answers_json(upstreams) -> None:  # noqa: F811
    registry_rows()
    for headers in ({}, {"HTTP_AUTHORIZATION": "Bearer nope"}, {"HTTP_X_API_KEY": "nope"}):
        refused = Client().get("/health", **headers)
        assert refused.status_code == 401
        assert refused["Content-Type"] == "application/json"
        assert refused.json()["error"]["type"] == "invalid_api_key"
    assert upstreams == []  # nobody was called for a refused request
    body = Client().get("/health", HTTP_AUTHORIZATION=f"Bearer {MASTER}").json()
    assert body["healthy_count"] == 3 and body["unhealthy_count"] == 2
    assert {e["model"] for e in body["unhealthy_endpoints"]} == {"gpt-bad", "gpt-unset"}
    assert SECRET not in orjson.dumps(body).decode()
    same = Client().get("/health", HTTP_X_API_KEY=MASTER)
    assert same.status_code == 200
    assert Client().post("/health", HTTP_X_API_KEY=MASTER).status_code == 405
