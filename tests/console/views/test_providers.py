"""The provider form per kind (issue #15): each kind's own fields and help, its
settings stored on the provider, secrets encrypted and never shown, and "test
connection" against each kind's model list (or why there is none)."""

from __future__ import annotations

import json

import httpx
import pytest
from django.test import Client

from gateway.base import http
from gateway.models import Provider
from tests.console.conftest import SECRET

SA_JSON = json.dumps({"type": "service_account", "private_key": SECRET, "project_id": "p"})


@pytest.fixture(autouse=True)
def _no_transport_leak():
    yield
    http.use_transport(None)


def create(client: Client, **fields) -> Provider:
    data = {"extra_headers": "{}", **fields}
    response = client.post("/providers/new/", data)
    assert response.status_code == 302, response.content.decode()
    return Provider.objects.get(name=fields["name"])


def test_form_offers_every_kind_with_its_own_fields_and_help(staff_client: Client, db) -> None:
    html = staff_client.get("/providers/new/").content.decode()
    for kind in ("gemini", "vertex_ai", "bedrock", "cohere", "openai_responses"):
        assert f'<option value="{kind}"' in html
    for label in ("Gemini API", "Vertex AI", "AWS Bedrock", "Cohere", "OpenAI Responses API"):
        assert label in html
    # the Bedrock and Vertex settings are fields tagged with their kind
    for name, kind in (
        ("aws_region_name", "bedrock"),
        ("aws_access_key_id", "bedrock"),
        ("aws_profile_name", "bedrock"),
        ("vertex_project", "vertex_ai"),
        ("vertex_location", "vertex_ai"),
    ):
        assert f'data-kinds="{kind}">' in html.split(f'name="{name}"')[0].rsplit("<div", 1)[1]
    assert '<span data-kinds="bedrock">Secret access key</span>' in html
    assert '<span data-kinds="vertex_ai">Service-account key</span>' in html
    assert 'data-kinds="cohere">Empty: https://api.cohere.com' in html


def test_bedrock_provider_keeps_region_and_key_id_as_settings(staff_client: Client, db) -> None:
    provider = create(
        staff_client,
        name="aws",
        kind="bedrock",
        secret=SECRET,
        aws_region_name="eu-west-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_profile_name="",
        vertex_project="ignored-for-bedrock",
    )
    assert provider.base_url == ""  # the regional runtime host by default
    assert provider.settings == {"aws_region_name": "eu-west-1", "aws_access_key_id": "AKIAEXAMPLE"}
    assert provider.secret_ciphertext and SECRET not in provider.secret_ciphertext
    page = staff_client.get(f"/providers/{provider.pk}/").content.decode()
    assert 'value="eu-west-1"' in page and 'value="AKIAEXAMPLE"' in page
    assert SECRET not in page and "stored encrypted" in page
    # an edit that leaves the secret empty keeps it; settings change
    staff_client.post(
        f"/providers/{provider.pk}/",
        {"name": "aws", "kind": "bedrock", "aws_region_name": "us-west-2", "secret": ""},
    )
    provider.refresh_from_db()
    assert provider.settings == {"aws_region_name": "us-west-2"}
    assert provider.stored_secret() == SECRET


def test_vertex_provider_takes_the_service_account_json_as_its_secret(
    staff_client: Client, db
) -> None:
    provider = create(
        staff_client,
        name="vertex",
        kind="vertex_ai",
        secret=SA_JSON,
        vertex_project="acme",
        vertex_location="europe-west4",
    )
    assert provider.settings == {"vertex_project": "acme", "vertex_location": "europe-west4"}
    assert json.loads(provider.stored_secret())["private_key"] == SECRET
    assert SECRET not in provider.secret_ciphertext
    page = staff_client.get(f"/providers/{provider.pk}/").content.decode()
    assert SECRET not in page and 'value="europe-west4"' in page


@pytest.mark.parametrize("kind", ["gemini", "cohere", "openai_responses"])
def test_key_kinds_need_no_base_url(staff_client: Client, db, kind: str) -> None:
    provider = create(staff_client, name=kind.replace("_", "-"), kind=kind, secret=SECRET)
    assert (provider.kind, provider.base_url, provider.settings) == (kind, "", {})
    assert provider.stored_secret() == SECRET


def test_a_bad_setting_is_shown_next_to_the_form(staff_client: Client, db) -> None:
    html = staff_client.post(
        "/providers/new/",
        {"name": "aws", "kind": "bedrock", "aws_region_name": "os.environ/not valid"},
    ).content.decode()
    assert "aws_region_name: not a valid environment reference" in html
    assert not Provider.objects.filter(name="aws").exists()


def _serve_models(seen: list[httpx.Request]) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.host == "generativelanguage.googleapis.com":
            return httpx.Response(
                200,
                json={
                    "models": [
                        {"name": "models/gemini-2.5-pro", "supportedGenerationMethods": ["generateContent"]},
                        {"name": "models/text-embedding-004", "supportedGenerationMethods": ["embedContent"]},
                    ]
                },
            )  # fmt: skip
        if request.url.host == "api.cohere.com":
            return httpx.Response(200, json={"models": [{"name": "command-a-03-2025"}]})
        return httpx.Response(200, json={"data": [{"id": "o3-pro"}, {"id": "gpt-5"}]})

    http.use_transport(httpx.MockTransport(answer))


@pytest.mark.parametrize(
    ("kind", "listed", "auth_header"),
    [
        ("gemini", "gemini-2.5-pro", "x-goog-api-key"),
        ("cohere", "command-a-03-2025", "authorization"),
        ("openai_responses", "o3-pro", "authorization"),
    ],
)
def test_test_connection_lists_the_models_of_each_kind(
    staff_client: Client, db, kind: str, listed: str, auth_header: str
) -> None:
    provider = create(staff_client, name="p", kind=kind, secret=SECRET)
    seen: list[httpx.Request] = []
    _serve_models(seen)
    html = staff_client.post(f"/providers/{provider.pk}/test/", HTTP_HX_REQUEST="true")
    html = html.content.decode()
    assert "<strong>p answered</strong>" in html and listed in html
    assert "text-embedding" not in html  # Gemini: only models that generate content
    assert SECRET in seen[0].headers[auth_header] and SECRET not in html


@pytest.mark.parametrize(("kind", "name"), [("bedrock", "Bedrock"), ("vertex_ai", "Vertex AI")])
def test_test_connection_says_why_bedrock_and_vertex_list_nothing(
    staff_client: Client, db, kind: str, name: str
) -> None:
    provider = create(staff_client, name="p", kind=kind, secret=SECRET)
    html = staff_client.post(f"/providers/{provider.pk}/test/", HTTP_HX_REQUEST="true")
    html = html.content.decode()
    assert f"{name} providers cannot list models" in html and "playground" in html
    assert SECRET not in html


def test_the_list_deletes_a_provider_in_place_after_asking(staff_client: Client, db) -> None:
    provider = Provider.objects.create(name="a<b", kind="openai", base_url="https://x.test")
    html = staff_client.get("/providers/").content.decode()
    url = f"/providers/{provider.pk}/delete/"
    for attribute in (f'action="{url}"', f'hx-post="{url}"', 'hx-target="closest tbody"'):
        assert attribute in html
    assert 'hx-confirm="Delete provider a&lt;b?"' in html  # the name escaped
