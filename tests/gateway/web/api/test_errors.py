"""The one error body of /api (``gateway.web.api.errors``): ``{"detail", "errors"}`` for
every failure, ninja's own (a body that does not parse or match the schema, 401, 404)
and a view's; a refused field is named as a client writes it (``deployments[0].model``),
the body parameter's name and ninja's ``body``/``query`` sources left out."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.web.api.errors import ApiError, field_name, summary, validation_errors


def test_the_summary_names_each_field_with_its_messages() -> None:
    errors = {"name": ["required"], "kind": ["unknown", "not a string"]}
    assert summary(errors) == "invalid name: required, kind: unknown; not a string"
    assert summary({}) == "invalid request"


@pytest.mark.parametrize(
    "loc, name",
    [
        (("body", "payload", "deployments", 0, "model"), "deployments[0].model"),
        (("body", "payload", "name"), "name"),
        (("query", "limit"), "limit"),
        (("path", "key_id"), "key_id"),
        (("body", "payload"), "body"),  # the whole body
        ((), "body"),
        (("body", "other", "x"), "other.x"),  # not the one body parameter: kept
        (("tags", 2), "tags[2]"),
    ],
)
def test_a_field_is_named_as_a_client_writes_it(loc, name) -> None:
    assert field_name(loc, single_body=("payload",)) == name


def test_ninja_errors_are_grouped_by_field() -> None:
    errors = [
        {"loc": ("body", "payload", "name"), "msg": "Field required"},
        {"loc": ("body", "payload", "name"), "msg": "too short"},
        {"loc": ("query", "limit")},
    ]
    assert validation_errors(errors) == {
        "name": ["Field required", "too short"],
        "limit": ["invalid"],
    }


def test_a_views_errors_get_their_one_line_detail() -> None:
    refused = ApiError.model_validate({"errors": {"name": ["taken"]}})
    assert refused.detail == "invalid name: taken" and refused.errors == {"name": ["taken"]}
    kept = ApiError.model_validate({"detail": "own words", "errors": {"name": ["taken"]}})
    assert kept.detail == "own words"
    assert ApiError.model_validate({"detail": "gone"}).errors == {}


# --- through the API -------------------------------------------------------------------


@pytest.fixture
def admin(db) -> Client:
    user = User.objects.create_user("boss", password="pw-123456789")
    roles.set_role(user, "admin")
    client = Client()
    client.force_login(user)
    return client


def post(client: Client, path: str, raw: str):
    return client.post(path, data=raw, content_type="application/json")


def test_no_credentials_is_a_401_in_the_shape(db) -> None:
    answer = Client().get("/api/routes")
    assert answer.status_code == 401
    assert set(answer.json()) == {"detail", "errors"} and answer.json()["errors"] == {}


def test_a_body_that_does_not_parse_is_a_400_in_the_shape(admin) -> None:
    answer = post(admin, "/api/routes", "{not json")
    assert answer.status_code == 400
    assert answer.json()["errors"] == {} and answer.json()["detail"]


def test_a_body_that_misses_the_schema_names_the_field(admin) -> None:
    answer = post(admin, "/api/routes", json.dumps({"name": 7, "deployments": [{}]}))
    assert answer.status_code == 422
    refused = answer.json()
    assert refused["detail"].startswith("invalid ")
    assert "name" in refused["errors"]
    assert not any(field.startswith(("body", "payload")) for field in refused["errors"])


def test_a_path_under_api_that_names_nothing_is_a_json_404(admin) -> None:
    answer = admin.get("/api/no-such-thing/here")
    assert answer.status_code == 404
    assert answer.json() == {"detail": "no such path: /api/no-such-thing/here", "errors": {}}
    # a session's POST there is the same 404, not the CSRF 403 page
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.get(username="boss"))
    assert client.post("/api/no-such-thing/here").status_code == 404


@pytest.mark.django_db(transaction=True)  # the foreign key is checked when the write commits
def test_a_write_that_races_a_delete_is_a_409_not_a_500(settings, monkeypatch, caplog) -> None:
    """Two scripts at once: one deletes a team while the other adds a member to it."""
    from gateway.features.people.api import teams as teams_api
    from gateway.models import Membership, Team

    settings.SWITCHYARD_MASTER_KEY = "sy-master-race"
    team = Team.objects.create(name="racing")
    User.objects.create_user("late", password="pw-123456789")
    real = teams_api.roles.assign_membership

    def deleted_meanwhile(user, team, role):  # type: ignore[no-untyped-def]
        Team.objects.filter(pk=team.pk).delete()  # the other request
        return real(user, team, role)

    monkeypatch.setattr(teams_api.roles, "assign_membership", deleted_meanwhile)
    answer = Client(HTTP_AUTHORIZATION="Bearer sy-master-race").put(
        f"/api/teams/{team.pk}/members/late", {"role": "member"}, content_type="application/json"
    )
    assert answer.status_code == 409, answer.content
    assert "retry" in answer.json()["detail"] and answer.json()["errors"] == {}
    assert not Membership.objects.exists()
    assert not [r for r in caplog.records if r.exc_info], caplog.text


def test_every_write_declares_the_409(db, settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = "sy-master-race"
    document = Client(HTTP_X_API_KEY="sy-master-race").get("/api/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in {"post", "put", "patch", "delete"}:
                assert "409" in operation["responses"], (method, path)
