"""A deployment's upstream API version (``params.anthropic_version``) is checked when
saved, through /api: a version the kind does not have, one the model does not take on
its host (2026-10-21 on Bedrock before Claude 4.7), and params the chosen version
refuses are each a 422 naming ``params`` and the reason, never a failure at call time."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.models import Provider

MASTER = "sy-master-api-test"


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    Provider.objects.create(name="ant", kind="anthropic")
    bedrock = Provider(name="br", kind="bedrock", settings={"aws_region_name": "us-east-1"})
    bedrock.save()
    Provider.objects.create(name="oai", kind="openai", base_url="http://oai.test/v1")
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def save(api: Client, provider: str, model: str, params: dict) -> tuple[int, dict]:
    response = api.post(
        "/api/routes/",
        {"name": f"r-{len(str(params))}-{model}", "deployments": [
            {"provider": provider, "model": model, "params": params}]},
        content_type="application/json",
    )  # fmt: skip
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("provider", "model", "params", "reason"),
    [
        ("ant", "claude-opus-4-5", {"anthropic_version": "2099-01-01"}, "not an API version"),
        ("ant", "claude-opus-4-5", {"anthropic_version": "2026-10-21", "temperature": 0.2},
         "refuses temperature"),
        ("br", "anthropic.claude-opus-4-5-20251101", {"anthropic_version": "2026-10-21"},
         "does not take API version 2026-10-21"),
        ("oai", "gpt-4o", {"anthropic_version": "2026-10-21"}, "no API versions"),
    ],
)  # fmt: skip
def test_a_refused_version_is_a_422_naming_params(api, provider, model, params, reason) -> None:
    status, body = save(api, provider, model, params)
    assert status == 422, body
    assert reason in str(body["errors"]["deployments[0].params"])


@pytest.mark.parametrize(
    ("provider", "model", "params"),
    [
        ("ant", "claude-opus-4-5", {"anthropic_version": "2026-10-21", "max_tokens": 9}),
        ("ant", "claude-opus-4-5", {"anthropic_version": "2023-06-01", "temperature": 0.2}),
        ("br", "anthropic.claude-opus-4-7", {"anthropic_version": "2026-10-21"}),
        ("br", "anthropic.claude-opus-4-5-20251101", {"anthropic_version": "2023-06-01"}),
    ],
)
def test_a_version_the_model_takes_is_saved(api, provider, model, params) -> None:
    status, body = save(api, provider, model, params)
    assert status == 201, body
