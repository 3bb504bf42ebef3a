"""Providers' extra headers (where users put tokens) are encrypted at rest like the
secret, shown masked everywhere (API, console form), kept when a masked value comes
back unchanged, sent upstream decrypted, and exported as ``os.environ/`` references."""

from __future__ import annotations

import re

import httpx
import pytest
import yaml
from django.db import connection
from django.test import Client

from gateway.access import registry
from gateway.base import http
from gateway.models import HEADER_MASK, Deployment, Provider, Route
from gateway.ops.litellm.export import export_config
from tests.migrate import at, latest

TOKEN = "tok-Header-Unmistakable-8812"
MASTER = "sy-master-headers-test"


def raw_headers(provider: Provider) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT extra_headers FROM gateway_provider WHERE id = %s", [provider.pk])
        return cursor.fetchone()[0]


@pytest.fixture
def provider(db) -> Provider:
    provider = Provider(name="9-corp_llm", kind="openai", base_url="http://upstream.test/v1")
    provider.set_extra_headers({"X-Corp-Token": TOKEN, "X-Org": "os.environ/CORP_ORG"})
    provider.save()
    return provider


def test_values_are_encrypted_at_rest_and_references_kept(provider: Provider) -> None:
    stored = raw_headers(provider)
    assert TOKEN not in stored and "fernet:" in stored and "os.environ/CORP_ORG" in stored
    provider.refresh_from_db()
    assert provider.stored_extra_headers() == {
        "X-Corp-Token": TOKEN,
        "X-Org": "os.environ/CORP_ORG",
    }
    assert provider.extra_headers_display == {
        "X-Corp-Token": HEADER_MASK,
        "X-Org": "os.environ/CORP_ORG",
    }
    provider.save()  # saving again does not encrypt twice
    provider.refresh_from_db()
    assert provider.stored_extra_headers()["X-Corp-Token"] == TOKEN


def test_the_upstream_gets_the_decrypted_value(provider: Provider, monkeypatch) -> None:
    from asgiref.sync import async_to_sync

    from gateway.providers.base import adapter_for

    monkeypatch.setenv("CORP_ORG", "org-7")
    entry = next(p for p in registry.build_snapshot().providers.values() if p.id == provider.pk)
    assert entry.extra_headers == {"X-Corp-Token": TOKEN, "X-Org": "os.environ/CORP_ORG"}
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"data": [{"id": "m"}]})

    http.use_transport(httpx.MockTransport(handler))
    assert async_to_sync(adapter_for(entry).list_models)() == ["m"]
    assert seen[0].headers["x-corp-token"] == TOKEN and seen[0].headers["x-org"] == "org-7"


def test_the_api_masks_them_and_a_masked_value_keeps_the_stored_one(
    provider: Provider, settings
) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    shown = api.get(f"/api/providers/{provider.pk}").json()
    assert shown["extra_headers"] == {"X-Corp-Token": HEADER_MASK, "X-Org": "os.environ/CORP_ORG"}
    assert TOKEN not in api.get("/api/providers/").content.decode()
    patched = api.patch(
        f"/api/providers/{provider.pk}",
        {"extra_headers": {**shown["extra_headers"], "X-New": "plain-new"}},
        content_type="application/json",
    )
    assert patched.status_code == 200 and TOKEN not in patched.content.decode()
    assert patched.json()["extra_headers"]["X-New"] == HEADER_MASK
    provider.refresh_from_db()
    assert provider.stored_extra_headers() == {
        "X-Corp-Token": TOKEN,
        "X-Org": "os.environ/CORP_ORG",
        "X-New": "plain-new",
    }
    refused = api.patch(
        f"/api/providers/{provider.pk}",
        {"extra_headers": {"X-Unknown": HEADER_MASK}},
        content_type="application/json",
    )
    assert refused.status_code == 422 and "extra_headers" in refused.json()["errors"]
    created = api.post(
        "/api/providers/",
        {"name": "other", "kind": "echo", "extra_headers": {"X-T": TOKEN}},
        content_type="application/json",
    )
    assert created.status_code == 201 and TOKEN not in created.content.decode()
    assert TOKEN not in raw_headers(Provider.objects.get(name="other"))


def test_the_console_form_shows_the_mask_and_keeps_the_value(provider: Provider, db) -> None:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-1234567", is_staff=True))
    page = client.get(f"/providers/{provider.pk}/").content.decode()
    assert TOKEN not in page and HEADER_MASK in page
    form = re.search(r"<textarea[^>]*id=\"id_extra_headers\"[^>]*>(.*?)</textarea>", page, re.S)
    import html

    submitted = html.unescape(form.group(1)).strip()
    response = client.post(
        f"/providers/{provider.pk}/",
        {"name": provider.name, "kind": "openai", "base_url": provider.base_url,
         "extra_headers": submitted},
    )  # fmt: skip
    assert response.status_code == 302
    provider.refresh_from_db()
    assert provider.stored_extra_headers()["X-Corp-Token"] == TOKEN


def test_export_writes_environment_references(provider: Provider) -> None:
    Deployment.objects.create(route=Route.objects.create(name="corp"), provider=provider, model="m")
    text = export_config()
    assert TOKEN not in text
    params = yaml.safe_load(text)["model_list"][0]["litellm_params"]
    token_ref = params["extra_headers"]["X-Corp-Token"]
    assert params["extra_headers"]["X-Org"] == "os.environ/CORP_ORG"
    variable = token_ref.removeprefix("os.environ/")
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", variable), variable
    assert variable == "_9_CORP_LLM_X_CORP_TOKEN"
    assert f"os.environ/{variable}" in text.split("model_list")[0]  # said in a comment
    with_secrets = yaml.safe_load(export_config(include_secrets=True))
    assert with_secrets["model_list"][0]["litellm_params"]["extra_headers"]["X-Corp-Token"] == (
        TOKEN
    )


@pytest.mark.django_db(transaction=True)
def test_the_migration_encrypts_existing_rows() -> None:
    OldProvider = at([("gateway", "0007_catalog_prices")]).get_model("gateway", "Provider")
    row = OldProvider.objects.create(
        name="legacy", kind="echo", extra_headers={"X-T": TOKEN, "X-R": "os.environ/R"}
    )
    at([("gateway", "0008_security_extra_headers")])
    assert TOKEN not in raw_headers(row)  # encrypted by 0008 itself
    at([("gateway", "0007_catalog_prices")])  # and back
    assert TOKEN in raw_headers(row)
    latest()  # later migrations add columns today's model reads
    migrated = Provider.objects.get(pk=row.pk)
    assert TOKEN not in raw_headers(migrated)
    assert migrated.stored_extra_headers() == {"X-T": TOKEN, "X-R": "os.environ/R"}


def test_an_imported_config_stores_them_encrypted_and_reimports_unchanged(db) -> None:
    from gateway.ops.litellm.apply import apply_plan
    from gateway.ops.litellm.parse import parse_config
    from gateway.ops.litellm.plan import plan_import

    text = f"""
model_list:
  - model_name: corp
    litellm_params:
      model: openai/m
      api_base: http://upstream.test/v1
      extra_headers: {{X-Corp-Token: {TOKEN}}}
"""
    apply_plan(plan_import(parse_config(text)))
    provider = Provider.objects.get()
    assert TOKEN not in raw_headers(provider)
    assert provider.stored_extra_headers() == {"X-Corp-Token": TOKEN}
    again = apply_plan(plan_import(parse_config(text)))
    assert again.counts["providers"]["create"] == 0 and Provider.objects.count() == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [("X-Bad", "v\r\nInjected: 1"), ("X-Bad", "line\nbreak"), ("X-Bad", "nul\x00"), ("X Bad", "v")],
)
def test_a_header_that_cannot_be_sent_is_refused_at_save(provider: Provider, settings, name, value):
    settings.SWITCHYARD_MASTER_KEY = MASTER
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")
    refused = api.patch(
        f"/api/providers/{provider.pk}",
        {"extra_headers": {name: value}},
        content_type="application/json",
    )
    assert refused.status_code == 422
    [message] = refused.json()["errors"]["extra_headers"]
    assert "X" in message and ("line break" in message or "header name" in message)
    created = api.post(
        "/api/providers/",
        {"name": "crlf", "kind": "echo", "extra_headers": {name: value}},
        content_type="application/json",
    )
    assert created.status_code == 422 and not Provider.objects.filter(name="crlf").exists()
    provider.refresh_from_db()
    assert name not in provider.stored_extra_headers()


def test_the_console_form_refuses_a_line_break_in_a_header(provider: Provider, db) -> None:
    from django.contrib.auth.models import User

    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-1234567", is_staff=True))
    response = client.post(
        f"/providers/{provider.pk}/",
        {"name": provider.name, "kind": "openai", "base_url": provider.base_url,
         "extra_headers": '{"X-Bad": "a\\r\\nb"}'},
    )  # fmt: skip
    assert response.status_code == 200
    assert "cannot hold a line break" in response.content.decode()
    provider.refresh_from_db()
    assert "X-Bad" not in provider.stored_extra_headers()


def test_the_model_refuses_it_however_it_is_assigned(db) -> None:
    from django.core.exceptions import ValidationError

    provider = Provider(name="direct", kind="echo", extra_headers={"X-A": "a\nb"})
    with pytest.raises(ValidationError, match="line break"):
        provider.full_clean()
