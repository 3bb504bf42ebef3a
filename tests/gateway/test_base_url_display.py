"""A base URL with credentials (``user:SECRET@``, ``?api-key=SECRET``) is shown masked
in /api and the console, kept when the mask comes back unchanged, and exported as an
``os.environ/`` reference that re-imports to the same provider."""

from __future__ import annotations

from typing import Any

import yaml
from django.contrib.auth.models import User
from django.test import Client

from gateway.models import Deployment, Provider, Route
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import parse_config
from gateway.ops.litellm.plan import plan_import

SECRET_URL = "https://svc:pa55-Secret@llm.internal/openai?api-version=2024-06-01&api-key=K-SECRET"
# the URL type: user info and every query value masked, whatever the parameter's name
SHOWN = "https://***@llm.internal/openai?api-version=***&api-key=***"
MASTER = "sy-master-base-url-test"


def make_provider() -> Provider:
    provider = Provider(name="corp", kind="openai", base_url=SECRET_URL)
    provider.save()
    return provider


def test_the_api_shows_it_masked_and_the_mask_keeps_it(db: None, settings: Any) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    provider = make_provider()
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    listed = api.get("/api/providers/").content.decode()
    assert "pa55-Secret" not in listed and "K-SECRET" not in listed
    shown = api.get(f"/api/providers/{provider.pk}").json()
    assert shown["base_url"] == SHOWN
    patched = api.patch(
        f"/api/providers/{provider.pk}",
        {"base_url": shown["base_url"], "timeout": 30},
        content_type="application/json",
    )
    assert patched.status_code == 200
    provider.refresh_from_db()
    assert provider.base_url == SECRET_URL and provider.timeout == 30
    api.patch(
        f"/api/providers/{provider.pk}",
        {"base_url": "https://other.example/v1"},
        content_type="application/json",
    )
    provider.refresh_from_db()
    assert provider.base_url == "https://other.example/v1"


def test_the_console_shows_it_masked_and_the_mask_keeps_it(db: None) -> None:
    provider = make_provider()
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-1234567", is_staff=True))
    for page in ("/providers/", f"/providers/{provider.pk}/"):
        html = client.get(page).content.decode()
        assert "pa55-Secret" not in html and "K-SECRET" not in html
        assert "https://***@llm.internal" in html
    response = client.post(
        f"/providers/{provider.pk}/",
        {"name": "corp", "kind": "openai", "base_url": SHOWN, "extra_headers": "{}"},
    )
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.base_url == SECRET_URL


def test_the_export_names_a_variable_and_reimports_to_the_same_provider(db: None) -> None:
    provider = make_provider()
    Deployment.objects.create(route=Route.objects.create(name="corp"), provider=provider, model="m")
    text = export_config()
    assert "pa55-Secret" not in text and "K-SECRET" not in text
    params = yaml.safe_load(text)["model_list"][0]["litellm_params"]
    assert params["api_base"] == "os.environ/CORP_API_BASE"
    assert "os.environ/CORP_API_BASE" in text.split("model_list")[0]  # said in a comment
    again = apply_plan(plan_import(parse_config(text)))
    assert again.counts["providers"]["create"] == 0 and Provider.objects.count() == 1
    revealed = yaml.safe_load(export_config(include_secrets=True))
    assert revealed["model_list"][0]["litellm_params"]["api_base"] == SECRET_URL


def test_a_url_without_credentials_is_exported_as_it_is(db: None) -> None:
    provider = Provider(name="plain", kind="openai", base_url="http://10.0.0.5:8000/v1")
    provider.save()
    Deployment.objects.create(route=Route.objects.create(name="p"), provider=provider, model="m")
    params = yaml.safe_load(export_config())["model_list"][0]["litellm_params"]
    assert params["api_base"] == "http://10.0.0.5:8000/v1"
