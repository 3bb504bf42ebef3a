"""/api/keys: list, create (raw key once), update limits, revoke; validation errors
name the field and change nothing; only the master key (or staff) may call it."""

from __future__ import annotations

import json

import pytest
from django.test import Client

from gateway.access import registry
from gateway.models import ApiKey, Provider, Route

pytestmark = pytest.mark.django_db
MASTER = "sy-test-master-key-api"


@pytest.fixture
def api(settings, db) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    Provider.objects.create(name="echo", kind=Provider.Kind.ECHO)
    Route.objects.create(name="echo")
    Route.objects.create(name="echo-slow")
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def send(client: Client, method: str, path: str, body: dict | None = None):
    return getattr(client, method)(
        path, data=json.dumps(body or {}), content_type="application/json"
    )


def test_requires_the_master_key(api, settings):
    assert Client().get("/api/keys/").status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get("/api/keys/").status_code == 401
    assert api.get("/api/keys/").status_code == 200


def test_create_returns_the_raw_key_once(api):
    reply = send(
        api,
        "post",
        "/api/keys/",
        {
            "name": "agent",
            "routes": ["echo"],
            "rpm_limit": 3,
            "tpm_limit": 5000,
            "budget_usd": "1.50",
            "budget_period": "day",
            "expires_at": "2099-01-01",
        },
    )
    assert reply.status_code == 201, reply.content
    data = reply.json()
    raw = data["key"]
    assert raw.startswith("sy-") and data["prefix"] == raw[:10]
    assert data["routes"] == ["echo"] and data["rpm_limit"] == 3 and data["active"]
    assert ApiKey.objects.get(pk=data["id"]).key_hash == ApiKey.hash_key(raw)

    listing = api.get("/api/keys/").json()
    assert [k["name"] for k in listing] == ["agent"]
    assert raw not in json.dumps(listing) and "key" not in listing[0]
    assert raw not in api.get(f"/api/keys/{data['id']}").content.decode()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "routes": ["nope"]}, "routes"),
        ({"name": "x", "rpm_limit": -1}, "rpm_limit"),
        ({"name": "x", "budget_usd": "5", "budget_period": "week"}, "budget_period"),
        ({"name": "x", "expires_at": "2000-01-01"}, "expires_at"),
        ({"name": "x", "expires_at": "soon"}, "expires_at"),
        ({"name": "  "}, "name"),
    ],
)
def test_create_with_bad_input_names_the_field_and_creates_nothing(api, body, field):
    reply = send(api, "post", "/api/keys/", body)
    assert reply.status_code == 422
    assert field in reply.json()["errors"]
    assert ApiKey.objects.count() == 0


def test_update_limits(api):
    key_id = send(api, "post", "/api/keys/", {"name": "a", "rpm_limit": 3}).json()["id"]
    reply = send(api, "patch", f"/api/keys/{key_id}", {"rpm_limit": 30, "routes": ["echo-slow"]})
    assert reply.status_code == 200, reply.content
    assert reply.json()["rpm_limit"] == 30 and reply.json()["routes"] == ["echo-slow"]

    bad = send(api, "patch", f"/api/keys/{key_id}", {"tpm_limit": -5, "name": "renamed"})
    assert bad.status_code == 422 and "tpm_limit" in bad.json()["errors"]
    key = ApiKey.objects.get(pk=key_id)
    assert key.name == "a" and key.tpm_limit is None

    cleared = send(api, "patch", f"/api/keys/{key_id}", {"rpm_limit": None})
    assert cleared.json()["rpm_limit"] is None


@pytest.mark.django_db(transaction=True)
def test_revoke_takes_effect_in_the_snapshot(api, snapshot_reset):
    created = send(api, "post", "/api/keys/", {"name": "a"}).json()
    assert registry.current().key(created["key"]).revoked is False
    reply = send(api, "post", f"/api/keys/{created['id']}/revoke")
    assert reply.status_code == 200 and reply.json()["active"] is False
    assert reply.json()["revoked_at"] is not None
    assert registry.current().key(created["key"]).revoked is True


def test_delete_revokes_but_keeps_the_row(api):
    key_id = send(api, "post", "/api/keys/", {"name": "a"}).json()["id"]
    assert api.delete(f"/api/keys/{key_id}").status_code == 200
    assert ApiKey.objects.get(pk=key_id).revoked_at is not None


def test_unknown_key_is_404(api):
    assert send(api, "patch", "/api/keys/999", {"rpm_limit": 1}).status_code == 404
    assert send(api, "post", "/api/keys/999/revoke").status_code == 404


def test_collection_paths_answer_without_the_trailing_slash(api) -> None:
    """The README's ``POST /api/keys`` creates the key (it used to be a 301 that lost
    the body); the other collections answer slashless too."""
    reply = send(api, "post", "/api/keys", {"name": "slashless", "rpm_limit": 3})
    assert reply.status_code == 201, reply.content
    assert reply.json()["rpm_limit"] == 3 and reply.json()["key"]
    names = [k["name"] for k in api.get("/api/keys").json()]
    assert "slashless" in names
    for collection in ("/api/providers", "/api/routes", "/api/logs"):
        assert api.get(collection).status_code == 200, collection
    assert Client().get("/api/keys").status_code == 401  # still authenticated


def test_a_wrong_key_on_an_unsafe_method_is_a_401_not_a_csrf_403(api) -> None:
    """A virtual key (such as an imported LiteLLM master_key) is not the admin key: the
    answer says unauthorized rather than "CSRF check Failed"."""
    # enforce_csrf_checks: real clients get no test-client CSRF exemption
    wrong = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION="Bearer sk-litellm-imported")
    reply = send(wrong, "post", "/api/keys/", {"name": "nope"})
    assert reply.status_code == 401, reply.content
    anonymous = Client(enforce_csrf_checks=True)
    assert send(anonymous, "post", "/api/keys/", {"name": "nope"}).status_code == 401
    assert not ApiKey.objects.filter(name="nope").exists()


def test_a_staff_session_still_needs_the_csrf_token(api, django_user_model) -> None:
    staff = django_user_model.objects.create_user("ops", password="pw", is_staff=True)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(staff)
    assert browser.get("/api/keys/").status_code == 200  # safe method: the session suffices
    reply = send(browser, "post", "/api/keys/", {"name": "forged"})
    assert reply.status_code == 403 and b"CSRF" in reply.content
    assert not ApiKey.objects.filter(name="forged").exists()


def test_the_master_key_name_is_reserved(api) -> None:
    """M15: a key a person names ``litellm-master-key`` was the one an import rebound to
    the config's master key; creating or renaming one to it is a 422 naming ``name``."""
    refused = send(api, "post", "/api/keys/", {"name": "litellm-master-key"})
    assert refused.status_code == 422 and "reserved" in refused.json()["errors"]["name"][0]
    made = send(api, "post", "/api/keys/", {"name": "litellm-master-key-2"})  # the control
    assert made.status_code == 201
    renamed = send(api, "patch", f"/api/keys/{made.json()['id']}", {"name": "LiteLLM-Master-Key"})
    assert renamed.status_code == 422 and "name" in renamed.json()["errors"]
    assert ApiKey.objects.get().name == "litellm-master-key-2"
