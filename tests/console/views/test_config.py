"""The import page says what becomes of a route that exists (replaced by default,
traffic split when asked to add) and applies the choice that was previewed."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.models import Deployment, Provider, Route

CONFIG = """
model_list:
  - model_name: chat
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY}
  - model_name: claude
    litellm_params: {model: bedrock/anthropic.claude-sonnet-4-20250514-v1:0}
"""


@pytest.fixture
def route(db, monkeypatch, tmp_path):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE", "AWS_ACCESS_KEY_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    provider = Provider.objects.create(
        name="openai", kind="openai", base_url="https://api.openai.com/v1"
    )
    route = Route.objects.create(name="chat")
    Deployment.objects.create(route=route, provider=provider, model="gpt-4o-mini")
    return route


def test_the_preview_says_the_route_is_replaced_and_offers_adding(staff_client: Client, route):
    html = staff_client.post("/routes/import/", {"config": CONFIG}).content.decode()
    assert "Existing routes will be replaced:" in html
    assert "route chat exists: the file&#x27;s deployments replace its openai/gpt-4o-mini" in html
    assert ">removed</span>" in html and "removed: not in the file" in html
    assert "Keep them and add the file's beside them" in html
    # the Bedrock line that would fail on first use is named
    assert "(route claude): Bedrock has no AWS region here" in html
    staff_client.post("/routes/import/", {"config": CONFIG, "apply": "1", "existing": "replace"})
    assert list(route.deployments.values_list("model", flat=True)) == ["gpt-4o"]


def test_choosing_add_previews_the_split_and_applies_it(staff_client: Client, route):
    html = staff_client.post("/routes/import/", {"config": CONFIG, "existing": "add"})
    html = html.content.decode()
    assert "Existing routes will split their traffic:" in html
    assert "50% to the file&#x27;s, 50% to the ones already there" in html
    assert '<input type="hidden" name="existing" value="add">' in html  # apply keeps the choice
    staff_client.post("/routes/import/", {"config": CONFIG, "apply": "1", "existing": "add"})
    assert sorted(route.deployments.values_list("model", flat=True)) == ["gpt-4o", "gpt-4o-mini"]


def test_an_echo_deployment_kept_beside_the_files_is_a_warning(staff_client: Client, route):
    """An echo deployment has no LiteLLM form, so a re-import keeps it: said as a
    warning that the route's traffic will be split, not as a quiet note."""
    echo = Provider.objects.create(name="echo", kind="echo")
    Deployment.objects.create(route=route, provider=echo, model="echo-1")
    html = staff_client.post("/routes/import/", {"config": CONFIG}).content.decode()
    assert "deployment echo/echo-1 (echo) has no LiteLLM form and is kept: the route&#x27;s" in html
    assert "traffic is split between it and the file&#x27;s deployments" in html
