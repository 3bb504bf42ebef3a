"""Deployment health on demand: each provider asked for its models once, healthy and
failing upstreams told apart with latency and error, unset environment variables
reported without a call, and ``GET /health`` for the master key only (401 JSON else)."""

from __future__ import annotations

import httpx
import orjson
import pytest
from django.test import Client

from gateway import deployment_health, http
from gateway.models import Deployment, Provider, Route

MASTER = "sy-test-master-key-health"
SECRET = "sk-health-Secret-42"


@pytest.fixture
def upstreams(settings, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    monkeypatch.delenv("HEALTH_UNSET_KEY", raising=False)
    calls: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        if request.url.host == "ok.test":
            return httpx.Response(200, json={"data": [{"id": "gpt-ok"}, {"id": "other"}]})
        return httpx.Response(401, json={"error": {"message": f"bad key {SECRET[:3]}…"}})

    http.use_transport(httpx.MockTransport(upstream))
    yield calls
    http.use_transport(None)


def registry_rows() -> None:
    ok = Provider.objects.create(name="ok", kind="openai", base_url="http://ok.test/v1")
    ok.set_secret(SECRET)
    ok.save()
    bad = Provider.objects.create(name="bad", kind="openai", base_url="http://bad.test/v1")
    bad.set_secret(SECRET)
    bad.save()
    unset = Provider.objects.create(
        name="unset",
        kind="openai",
        base_url="http://unset.test/v1",
        secret_ref="os.environ/HEALTH_UNSET_KEY",
    )
    echo = Provider.objects.create(name="echo-h", kind="echo")
    route = Route.objects.create(name="chat")
    Deployment.objects.create(route=route, provider=ok, model="gpt-ok")
    Deployment.objects.create(route=route, provider=ok, model="gpt-unlisted")
    Deployment.objects.create(route=route, provider=bad, model="gpt-bad")
    Deployment.objects.create(route=route, provider=unset, model="gpt-unset")
    Deployment.objects.create(route=route, provider=echo, model="echo")
    Deployment.objects.create(route=route, provider=bad, model="gpt-off", enabled=False)


@pytest.mark.django_db(transaction=True)
async def test_every_deployment_is_checked_once_per_provider(upstreams) -> None:
    from asgiref.sync import sync_to_async

    await sync_to_async(registry_rows)()
    report = {h.model: h for h in await deployment_health.check_all()}
    assert sorted(upstreams) == ["bad.test", "ok.test"]  # once each; none for the unset one
    assert report["gpt-ok"].status == "healthy" and report["gpt-ok"].model_listed is True
    assert report["gpt-ok"].latency_ms is not None and report["gpt-ok"].error == ""
    assert report["gpt-unlisted"].status == "healthy"
    assert report["gpt-unlisted"].model_listed is False
    assert report["gpt-bad"].status == "unhealthy" and report["gpt-bad"].error
    assert SECRET not in report["gpt-bad"].error
    assert report["gpt-unset"].status == "misconfigured"
    assert "HEALTH_UNSET_KEY" in report["gpt-unset"].error
    assert report["echo"].status == "healthy"
    assert report["gpt-off"].status == "disabled" and report["gpt-off"].latency_ms is None
    assert set(deployment_health.latest()) >= {h.deployment_id for h in report.values()}


@pytest.mark.django_db(transaction=True)
def test_get_health_needs_the_master_key_and_answers_json(upstreams) -> None:
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
