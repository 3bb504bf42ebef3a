"""Deployment health on demand: each provider asked for its models once, healthy and
failing upstreams told apart with latency and error, unset environment variables
reported without a call, and ``GET /health`` for the master key only (401 JSON else)."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.base import http
from gateway.models import Deployment, Provider, Route
from gateway.ops import deployment_health

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


@pytest.fixture
def no_cloud_credentials(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    """No AWS region or credentials and no Google credentials anywhere (nor a metadata
    server asked for them)."""
    from gateway.providers import aws, google_auth

    for name in (
        "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        "AWS_PROFILE", "AWS_SESSION_TOKEN", "GOOGLE_APPLICATION_CREDENTIALS",
    ):  # fmt: skip
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_GCE_CHECK", "True")
    monkeypatch.setenv("CLOUDSDK_CONFIG", str(tmp_path / "gcloud"))
    aws.forget()
    google_auth.forget()
    yield
    aws.forget()
    google_auth.forget()


def cloud_rows() -> dict[str, Deployment]:
    bedrock = Provider.objects.create(name="aws", kind="bedrock")
    vertex = Provider.objects.create(name="gcp", kind="vertex_ai")
    echo = Provider.objects.create(name="echo-any", kind="echo")
    route = Route.objects.create(name="cloud")
    return {
        "no-region": Deployment.objects.create(
            route=route, provider=bedrock, model="anthropic.claude-v2"
        ),
        "region-no-keys": Deployment.objects.create(
            route=route, provider=bedrock, model="anthropic.claude-v3",
            params={"aws_region_name": "eu-west-1"},
        ),
        "keys": Deployment.objects.create(
            route=route, provider=bedrock, model="anthropic.claude-v4",
            params={
                "aws_region_name": "eu-west-1", "aws_access_key_id": "AKIAHEALTHCHECK",
                "aws_secret_access_key": "health-secret-value",
            },
        ),
        "vertex": Deployment.objects.create(route=route, provider=vertex, model="gemini-2.0"),
        "echo": Deployment.objects.create(route=route, provider=echo, model="echo-anything"),
    }  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_cloud_credentials")
async def test_kinds_without_a_model_list_are_checked_by_their_configuration(upstreams) -> None:
    """Bedrock and Vertex are never "unhealthy" for having no model list: the region,
    the credentials and the project are what is checked, and named when missing. Echo
    answers any model name: healthy, and no "not listed" finding."""
    from asgiref.sync import sync_to_async

    rows = await sync_to_async(cloud_rows)()
    report = {h.deployment_id: h for h in await deployment_health.check_all()}
    health = {name: report[d.pk] for name, d in rows.items()}
    assert upstreams == []  # nothing was sent anywhere
    assert all(h.status != "unhealthy" for h in health.values()), health
    assert all("cannot list models" not in h.error for h in health.values())
    assert health["no-region"].status == "misconfigured"
    assert "no AWS region" in health["no-region"].error
    assert health["region-no-keys"].status == "misconfigured"
    assert "no AWS credentials" in health["region-no-keys"].error
    assert health["keys"].status == "healthy"
    assert (
        health["keys"].checked_by == "configuration: region eu-west-1, credentials from access keys"
    )
    assert (
        "health-secret-value" not in orjson.dumps([h.as_dict() for h in health.values()]).decode()
    )
    assert health["vertex"].status == "misconfigured"
    assert "credentials" in health["vertex"].error.lower()
    assert health["echo"].status == "healthy" and health["echo"].model_listed is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("no_cloud_credentials")
async def test_vertex_with_a_service_account_is_healthy_once_it_has_a_token(
    upstreams, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Vertex deployment whose credentials yield a token (the token endpoint is the
    one call made) and that has a project is healthy."""
    from asgiref.sync import sync_to_async

    from gateway.providers import google_auth

    async def token(source):  # type: ignore[no-untyped-def]
        assert source == '{"type": "service_account"}'
        return "ya29.token", "proj-from-key"

    monkeypatch.setattr(google_auth, "access_token", token)
    vertex = await sync_to_async(Provider.objects.create)(
        name="gcp-ok", kind="vertex_ai", secret_ref='{"type": "service_account"}'
    )
    route = await sync_to_async(Route.objects.create)(name="vx")
    row = await sync_to_async(Deployment.objects.create)(
        route=route, provider=vertex, model="gemini-2.0", params={"vertex_location": "europe-west4"}
    )
    (health,) = [h for h in await deployment_health.check_all() if h.deployment_id == row.pk]
    assert health.status == "healthy", health
    assert health.checked_by == (
        "configuration: project proj-from-key, location europe-west4, access token obtained"
    )
