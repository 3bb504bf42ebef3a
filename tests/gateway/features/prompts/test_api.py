"""``/api/prompts``: create a prompt, add versions, move labels, fetch a version by label
or number (the choice a ``/v1`` request makes), diff two versions, render one; every bad
field a 422 naming it with nothing saved; who may change what (rule prompt.change)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from gateway.access import registry, roles
from gateway.models import AuditEvent, Prompt, PromptVersion

MASTER = "sy-master-prompts-api-test"
TRIAGE = {
    "name": "support.triage",
    "description": "first answer to a ticket",
    "messages": [
        {"role": "system", "content": "You answer for {{company}}."},
        {"role": "user", "content": "Ticket: {{ ticket }}"},
    ],
    "params": {"temperature": 0.3},
    "labels": ["production"],
}


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    call = getattr(client, method)
    if body is None:
        return call(url)
    return call(url, data=body, content_type="application/json")


def test_versions_labels_and_the_version_a_request_would_get(
    api: Client, django_capture_on_commit_callbacks
) -> None:
    made = send(api, "post", "/api/prompts/", TRIAGE)
    assert made.status_code == 201, made.content
    assert made.json()["version"] == 1 and made.json()["variables"] == ["company", "ticket"]
    assert made.json()["labels"] == ["production"]
    v2 = send(api, "post", "/api/prompts/support.triage/versions", {
        "messages": [{"role": "system", "content": "Be brief for {{company}}."}],
        "model": "chat", "note": "shorter", "labels": ["staging"],
    })  # fmt: skip
    assert v2.status_code == 201 and v2.json()["version"] == 2
    # production is still v1: that is what GET (and a /v1 request) gets by default
    assert api.get("/api/prompts/support.triage").json()["version"] == 1
    assert api.get("/api/prompts/support.triage?label=staging").json()["version"] == 2
    assert api.get("/api/prompts/support.triage?version=2").json()["note"] == "shorter"
    assert api.get("/api/prompts/support.triage?label=canary").status_code == 404
    assert api.get("/api/prompts/nope").status_code == 404
    with django_capture_on_commit_callbacks(execute=True):
        moved = send(api, "put", "/api/prompts/support.triage/labels/production", {"version": 2})
    assert moved.status_code == 200 and moved.json()["labels"] == ["production", "staging"]
    assert api.get("/api/prompts/support.triage").json()["version"] == 2
    # the snapshot followed (the registry's version bump): a request would get v2 now
    assert registry.current().parts["prompts"]["support.triage"].pick().number == 2
    listed = api.get("/api/prompts/").json()
    assert listed == [{
        "name": "support.triage", "description": "first answer to a ticket", "latest": 2,
        "labels": {"production": 2, "staging": 2}, "created_by": None,
        "updated_at": listed[0]["updated_at"],
    }]  # fmt: skip
    assert [v["version"] for v in api.get("/api/prompts/support.triage/versions").json()] == [2, 1]
    assert send(api, "delete", "/api/prompts/support.triage/labels/staging").status_code == 204
    assert send(api, "delete", "/api/prompts/support.triage/labels/staging").status_code == 404
    assert AuditEvent.objects.filter(object_type__startswith="prompt").count() >= 4


def test_diff_between_two_versions(api: Client) -> None:
    send(api, "post", "/api/prompts/", TRIAGE)
    send(api, "post", "/api/prompts/support.triage/versions", {"messages": [
        {"role": "system", "content": "You answer for {{company}}, briefly."},
        {"role": "user", "content": "Ticket: {{ ticket }}"},
    ]})  # fmt: skip
    answer = api.get("/api/prompts/support.triage/diff?from=1&to=2").json()
    assert answer["from_version"] == 1 and answer["to_version"] == 2
    assert "-You answer for {{company}}." in answer["unified"]
    assert "+You answer for {{company}}, briefly." in answer["unified"]
    kinds = {(line["kind"], line["text"]) for line in answer["lines"]}
    assert ("same", "Ticket: {{ ticket }}") in kinds
    assert ("removed", 'params: {"temperature": 0.3}') in kinds
    assert api.get("/api/prompts/support.triage/diff?from=1&to=7").status_code == 404
    assert api.get("/api/prompts/support.triage/diff?from=x&to=2").status_code == 422


def test_render_fills_the_variables_or_names_the_missing_ones(api: Client) -> None:
    send(api, "post", "/api/prompts/", TRIAGE)
    done = send(api, "post", "/api/prompts/support.triage/render",
                {"variables": {"company": "Acme", "ticket": 7}})  # fmt: skip
    assert done.json()["messages"][1] == {"role": "user", "content": "Ticket: 7"}
    missing = send(api, "post", "/api/prompts/support.triage/render", {"variables": {}})
    assert missing.status_code == 422 and "company, ticket" in missing.json()["detail"]


def test_render_reads_the_labels_in_one_query(api: Client) -> None:
    """Rendering by label reads every label of the prompt with its version in one
    query, whatever their number (before: one query more a label)."""
    send(api, "post", "/api/prompts/", TRIAGE)

    def counted() -> int:
        with CaptureQueriesContext(connection) as queries:
            done = send(api, "post", "/api/prompts/support.triage/render",
                        {"variables": {"company": "Acme", "ticket": 7}, "label": "production"})  # fmt: skip
        assert done.status_code == 200, done.content
        return len(queries.captured_queries)

    one = counted()
    for n in range(5):
        assert (
            send(api, "put", f"/api/prompts/support.triage/labels/l{n}", {"version": 1}).status_code
            == 200
        )
    assert counted() == one


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "has space"}, "name"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "user", "content": ["x"]}]}, "messages"),
        ({"params": {"temperature": 9}}, "params"),
        ({"params": {"seed": 1}}, "params"),
        ({"labels": ["Prod Uction"]}, "label"),
        ({"tools": [{"description": "no name"}]}, "tools"),
    ],
)
def test_a_bad_field_is_a_422_naming_it_and_saves_nothing(
    api: Client, change: dict[str, Any], field: str
) -> None:
    refused = send(api, "post", "/api/prompts/", {**TRIAGE, **change})
    assert refused.status_code == 422 and field in refused.json()["errors"], refused.content
    assert not Prompt.objects.exists() and not PromptVersion.objects.exists()


def test_a_duplicate_name_is_refused(api: Client) -> None:
    send(api, "post", "/api/prompts/", TRIAGE)
    again = send(api, "post", "/api/prompts/", TRIAGE)
    assert again.status_code == 422 and "exists already" in again.json()["errors"]["name"][0]


@pytest.fixture
def people(db) -> dict[str, Client]:
    clients = {}
    for role in ("admin", "editor", "member", "viewer"):
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        client = Client()
        client.force_login(user)
        clients[role] = client
    return clients


def test_authors_change_their_own_prompts_admins_any_viewers_none(people) -> None:
    member, editor = people["member"], people["editor"]
    mine = send(member, "post", "/api/prompts/", {**TRIAGE, "name": "mine"})
    assert mine.status_code == 201
    assert Prompt.objects.get(name="mine").created_by.username == "member"
    body = {"messages": "Hi {{name}}"}
    assert send(member, "post", "/api/prompts/mine/versions", body).status_code == 201
    # an editor did not write it: 403 on every change; reading is for every role
    assert send(editor, "post", "/api/prompts/mine/versions", body).status_code == 403
    assert (
        send(editor, "put", "/api/prompts/mine/labels/production", {"version": 2}).status_code
        == 403
    )
    assert send(editor, "delete", "/api/prompts/mine").status_code == 403
    assert people["viewer"].get("/api/prompts/mine").json()["version"] == 1  # production
    assert (
        send(people["viewer"], "post", "/api/prompts/", {**TRIAGE, "name": "v"}).status_code == 403
    )
    assert send(people["admin"], "put", "/api/prompts/mine/labels/production",
                {"version": 2}).status_code == 200  # fmt: skip
    assert send(people["admin"], "delete", "/api/prompts/mine").status_code == 204
