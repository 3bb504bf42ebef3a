"""/api/providers: CRUD with the master key, 401 without it, secrets write-only."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.models import Deployment, Provider, Route

MASTER = "sy-master-api-test"
SECRET = "sk-api-Unmistakable-4471"


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def test_requires_master_key_or_staff(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    assert Client().get("/api/providers/").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/api/providers/").status_code == 401
    assert (
        Client()
        .post("/api/providers/", {"name": "x", "kind": "echo"}, content_type="application/json")
        .status_code
        == 401
    )
    assert Client(HTTP_X_API_KEY=MASTER).get("/api/providers/").status_code == 200


def test_crud_round_trip(api: Client) -> None:
    created = api.post(
        "/api/providers/",
        {
            "name": "openai",
            "kind": "openai",
            "base_url": "https://api.example/v1",
            "secret": SECRET,
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["has_secret"] is True and SECRET not in created.content.decode()
    assert "secret" not in body
    pk = body["id"]
    assert Provider.objects.get(pk=pk).stored_secret() == SECRET

    listed = api.get("/api/providers/").json()
    assert [p["name"] for p in listed] == ["openai"]

    patched = api.patch(f"/api/providers/{pk}", {"timeout": 12.5}, content_type="application/json")
    assert patched.status_code == 200 and patched.json()["timeout"] == 12.5
    assert Provider.objects.get(pk=pk).stored_secret() == SECRET  # omitted: kept

    cleared = api.patch(f"/api/providers/{pk}", {"secret": ""}, content_type="application/json")
    assert cleared.json()["has_secret"] is False

    assert api.delete(f"/api/providers/{pk}").status_code == 204
    assert api.get(f"/api/providers/{pk}").status_code == 404


def test_validation_errors_keyed_by_field(api: Client) -> None:
    response = api.post(
        "/api/providers/", {"name": "x", "kind": "openai"}, content_type="application/json"
    )
    assert response.status_code == 422
    assert "required for this kind" in response.json()["errors"]["base_url"][0]
    response = api.post(
        "/api/providers/",
        {"name": "x", "kind": "echo", "secret": "os.environ/1BAD"},
        content_type="application/json",
    )
    assert response.status_code == 422 and "secret" in response.json()["errors"]


def test_base_url_and_api_version_may_be_environment_references(api: Client, monkeypatch) -> None:
    """Like the secret, ``os.environ/NAME`` is kept and read when the provider is called
    (the base URL's variable is read when saved too: where AZURE_API_VERSION goes)."""
    monkeypatch.setenv("AZURE_API_BASE", "https://acme.openai.azure.com")
    response = api.post(
        "/api/providers/",
        {
            "name": "az",
            "kind": "azure",
            "base_url": "os.environ/AZURE_API_BASE",
            "api_version": "os.environ/AZURE_API_VERSION",
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    provider = Provider.objects.get(name="az")
    assert provider.base_url == "os.environ/AZURE_API_BASE"
    assert provider.api_version == "os.environ/AZURE_API_VERSION"
    for field, value in (("base_url", "os.environ/not a name"), ("api_version", "os.environ/9")):
        response = api.post(
            "/api/providers/",
            {"name": "bad", "kind": "openai", "base_url": "http://h/v1", field: value},
            content_type="application/json",
        )
        assert response.status_code == 422
        assert "not a valid environment reference" in response.json()["errors"][field][0]
    response = api.post(
        "/api/providers/",
        {"name": "bad", "kind": "openai", "base_url": "ftp://h"},
        content_type="application/json",
    )
    assert "must start with http:// or https://" in response.json()["errors"]["base_url"][0]


def test_delete_in_use_is_a_conflict(api: Client) -> None:
    provider = Provider.objects.create(name="echo", kind="echo")
    Deployment.objects.create(route=Route.objects.create(name="r"), provider=provider, model="m")
    response = api.delete(f"/api/providers/{provider.pk}")
    assert response.status_code == 409 and "used by route(s) r" in str(response.json())


def test_connection_test_reports_models(api: Client) -> None:
    provider = Provider.objects.create(name="echo", kind="echo")
    result = api.post(f"/api/providers/{provider.pk}/test").json()
    assert result["ok"] is True and result["models"] == ["echo"]


@pytest.mark.parametrize(
    ("kind", "kind_settings"),
    [
        ("gemini", {}),
        ("vertex_ai", {"vertex_project": "acme", "vertex_location": "europe-west4"}),
        ("bedrock", {"aws_region_name": "us-east-1", "aws_access_key_id": "AKIAEXAMPLE"}),
        ("cohere", {}),
        ("openai_responses", {}),
    ],
)
def test_create_each_new_kind_without_a_base_url(
    api: Client, kind: str, kind_settings: dict
) -> None:
    created = api.post(
        "/api/providers/",
        {"name": f"p-{kind}", "kind": kind, "settings": kind_settings, "secret": SECRET},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert (body["kind"], body["base_url"], body["settings"]) == (kind, "", kind_settings)
    assert SECRET not in created.content.decode()
    provider = Provider.objects.get(pk=body["id"])
    assert provider.stored_secret() == SECRET and SECRET not in provider.secret_ciphertext


def test_settings_are_checked_against_the_kind(api: Client) -> None:
    wrong = api.post(
        "/api/providers/",
        {"name": "g", "kind": "gemini", "settings": {"aws_region_name": "us-east-1"}},
        content_type="application/json",
    )
    assert wrong.status_code == 422
    assert "aws_region_name: not a setting of a gemini provider" in str(wrong.json())
    # kinds without a default address still need one
    assert (
        api.post(
            "/api/providers/", {"name": "o", "kind": "openai"}, content_type="application/json"
        ).status_code
        == 422
    )
    created = api.post(
        "/api/providers/",
        {"name": "aws", "kind": "bedrock", "settings": {"aws_region_name": "us-east-1"}},
        content_type="application/json",
    ).json()
    patched = api.patch(
        f"/api/providers/{created['id']}",
        {"settings": {"aws_profile_name": "prod"}},
        content_type="application/json",
    )
    assert patched.status_code == 200 and patched.json()["settings"] == {"aws_profile_name": "prod"}
    bad = api.patch(
        f"/api/providers/{created['id']}",
        {"settings": {"vertex_project": "x"}},
        content_type="application/json",
    )
    assert bad.status_code == 422


def test_passthrough_settings_are_refused_when_saved_naming_the_field(api: Client) -> None:
    """``passthrough`` and ``passthrough_paths`` (gateway.features.passthrough): a bad
    value is a 422 naming the setting and why, nothing saved."""
    for settings, why in (
        ({"passthrough": "sometimes"}, "passthrough: 'sometimes' is not on or off"),
        (
            {"passthrough_paths": "v1/models"},
            "passthrough_paths: 'v1/models' does not start with /",
        ),
        ({"passthrough_paths": "/v1/../x"}, "passthrough_paths: '/v1/../x' has a . or .. segment"),
    ):
        refused = api.post(
            "/api/providers/",
            {"name": "pt", "kind": "anthropic", "settings": settings},
            content_type="application/json",
        )
        assert refused.status_code == 422 and why in str(refused.json()), refused.content
        assert not Provider.objects.filter(name="pt").exists()
    made = api.post(
        "/api/providers/",
        {"name": "pt", "kind": "anthropic",
         "settings": {"passthrough": "off", "passthrough_paths": "/v1/models, /v1/skills"}},
        content_type="application/json",
    )  # fmt: skip
    assert made.status_code == 201, made.content
    assert made.json()["settings"] == {
        "passthrough": "off",
        "passthrough_paths": "/v1/models, /v1/skills",
    }
