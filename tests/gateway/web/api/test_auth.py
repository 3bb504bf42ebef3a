"""Who may use the management API (``gateway.web.api.auth``): the master key (as a bearer
or ``x-api-key``), a console session with a role; /api/docs and /api/openapi.json need
one of them (a browser without a session is sent to sign in), and a caller whose role
may not do an operation gets a JSON 403."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.http import HttpResponse
from django.test import Client, RequestFactory
from ninja.errors import HttpError

from gateway.access import roles
from gateway.web.api.auth import MasterKeyAuth, matches_master_key, staff_or_master_key

MASTER = "sy-master-docs-test"
DOCS = ("/api/docs", "/api/openapi.json")


@pytest.fixture(autouse=True)
def master(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER


@pytest.mark.parametrize("path", DOCS)
def test_anonymous_callers_get_nothing(db, path: str) -> None:
    assert Client().get(path).status_code == 401
    assert Client(HTTP_AUTHORIZATION="Bearer wrong").get(path).status_code == 401
    browser = Client().get(path, HTTP_ACCEPT="text/html,application/xhtml+xml")
    assert browser.status_code == 302 and "/login/?next=" in browser["Location"]
    user = User.objects.create_user("bob", password="pw-1234567", is_staff=False)
    client = Client()
    client.force_login(user)
    assert client.get(path).status_code == 401


@pytest.mark.parametrize("path", DOCS)
def test_staff_and_the_master_key_get_them(db, path: str) -> None:
    assert Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}").get(path).status_code == 200
    assert Client(HTTP_X_API_KEY=MASTER).get(path).status_code == 200
    client = Client()
    client.force_login(User.objects.create_user("ops", password="pw-1234567", is_staff=True))
    response = client.get(path)
    assert response.status_code == 200
    if path.endswith(".json"):
        assert "/api/providers/" in response.json()["paths"]


def test_only_the_configured_master_key_matches(settings) -> None:
    assert matches_master_key(MASTER)
    assert not matches_master_key(MASTER + "x") and not matches_master_key("")
    settings.SWITCHYARD_MASTER_KEY = ""
    assert not matches_master_key("")  # no master key configured: nothing matches


def test_the_master_key_is_read_from_a_bearer_of_any_case_or_x_api_key(db) -> None:
    factory = RequestFactory()
    for headers in ({"Authorization": f"bEaReR  {MASTER} "}, {"x-api-key": MASTER}):
        request = factory.get("/api/providers/", headers=headers)
        assert MasterKeyAuth()(request) is roles.MASTER
        assert request.actor is roles.MASTER
    assert MasterKeyAuth()(factory.get("/api/providers/", headers={"x-api-key": "no"})) is None
    assert MasterKeyAuth()(factory.get("/api/providers/")) is None


def test_a_role_that_may_not_call_the_operation_is_refused(db, monkeypatch) -> None:
    def refuse(actor, action, target):  # type: ignore[no-untyped-def]
        from gateway.access.authorization import Decision

        return Decision(False, "members may not")

    monkeypatch.setattr("gateway.access.authorization.decide", refuse)
    request = RequestFactory().get("/api/providers/", headers={"x-api-key": MASTER})
    with pytest.raises(HttpError) as caught:
        MasterKeyAuth()(request)
    assert caught.value.status_code == 403
    view = staff_or_master_key(lambda request: HttpResponse("docs"))
    request = RequestFactory().get("/api/docs", headers={"x-api-key": MASTER})
    request.user = None
    answer = view(request)
    assert answer.status_code == 403 and b"members may not" in answer.content
