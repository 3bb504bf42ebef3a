"""Which routes a new comparison starts with (issue #32: after an import the first two
routes by name were picked, one of them a Bedrock route without credentials): routes
that can answer, those answering most recently first, never one that cannot work."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from console.readiness import default_routes, ready_route_names
from gateway.models import Deployment, Provider, RequestLog, Route
from gateway.ops import deployment_health
from tests.console.playground_support import make_echo_routes

AWS_VARIABLES = (
    "AWS_ACCESS_KEY_ID",
    "AWS_PROFILE",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
)


@pytest.fixture(autouse=True)
def no_ambient_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


def prefill_columns(client: Client) -> list[str]:
    html = client.get("/playground/").content.decode()
    start = html.index('<script id="pg-prefill" type="application/json">') + 48
    return [c["route"] for c in json.loads(html[start : html.index("</script>", start)])["columns"]]


def route_on(name: str, provider: Provider, **params) -> Route:
    route = Route.objects.create(name=name)
    Deployment.objects.create(route=route, provider=provider, model=f"{name}-m", params=params)
    return route


def answered(route: str, times: int = 1, status: int = 200) -> None:
    for n in range(times):
        RequestLog.objects.create(
            request_id=f"{route}-{status}-{n}-{RequestLog.objects.count()}",
            dialect="openai",
            endpoint="chat",
            route=route,
            status=status,
        )


def test_an_imported_bedrock_route_without_credentials_is_not_a_default(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    bedrock = Provider.objects.create(name="aws", kind="bedrock")
    route_on("a-bedrock-claude", bedrock)
    make_echo_routes({"m-echo": {}, "z-echo": {}})
    assert "a-bedrock-claude" not in ready_route_names()
    assert prefill_columns(staff_client) == ["m-echo", "z-echo"]
    # With a profile (or keys, or AWS credentials in the environment) it can answer.
    Provider.objects.filter(pk=bedrock.pk).update(settings={"aws_profile_name": "prod"})
    assert "a-bedrock-claude" in ready_route_names()
    Provider.objects.filter(pk=bedrock.pk).update(settings={})
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAEXAMPLE")
    assert "a-bedrock-claude" in ready_route_names()


def test_hosted_apis_without_a_key_cannot_answer_but_a_local_server_can(db) -> None:
    route_on("anthropic-nokey", Provider.objects.create(name="anth", kind="anthropic"))
    hosted = Provider.objects.create(
        name="oai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route_on("openai-nokey", hosted)
    local = Provider.objects.create(name="vllm", kind="openai", base_url="http://127.0.0.1:8000/v1")
    route_on("local-vllm", local)
    keyed = Provider(name="anth-key", kind="anthropic")
    keyed.set_secret("sk-ant-literal")
    keyed.save()
    route_on("anthropic-key", keyed)
    assert ready_route_names() == ["anthropic-key", "local-vllm"]


def test_routes_in_use_come_first(staff_client: Client) -> None:
    make_echo_routes({"alpha": {}, "beta": {}, "gamma": {}, "delta": {}})
    answered("gamma", 3)
    answered("delta", 1)
    answered("alpha", 5, status=502)  # failures are no sign of a working route
    assert prefill_columns(staff_client) == ["delta", "gamma"]  # the newest answer first
    answered("gamma", 1)
    assert default_routes(2) == ["gamma", "delta"]
    assert default_routes(3) == ["gamma", "delta", "alpha"]  # then by name


def test_a_route_the_last_health_check_found_failing_is_not_a_default(
    staff_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_echo_routes({"alpha": {}, "beta": {}, "gamma": {}})
    failing = Deployment.objects.get(route__name="alpha")
    checked = deployment_health.DeploymentHealth(
        failing.pk, "alpha", "echo", failing.model, True, "unhealthy", error="401"
    )
    monkeypatch.setattr(deployment_health, "latest", lambda: {failing.pk: checked})
    answered("alpha", 2)
    assert prefill_columns(staff_client) == ["beta", "gamma"]


def test_when_no_route_can_answer_none_is_preselected(staff_client: Client) -> None:
    route_on("bedrock-only", Provider.objects.create(name="aws", kind="bedrock"))
    html = staff_client.get("/playground/").content.decode()
    assert prefill_columns(staff_client) == ["", ""]
    assert '<option value="" selected disabled>Choose a route</option>' in html
    assert '<option value="bedrock-only" selected' not in html
