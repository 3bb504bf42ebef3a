"""/api/guardrails: create, list, read, change and delete through the one save
(``gateway.features.guardrails.save``); the kind's validation as a 422 naming the field, nothing
saved; secrets in params stored encrypted and masked in every answer, for every role;
owners and admins change, other roles read; every change an audit row; and the
``guardrails`` lists of keys, teams and routes validated by name."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import registry, roles
from gateway.models import ApiKey, Guardrail, Membership, Route, Team
from gateway.models.telemetry import AuditEvent

MASTER = "sy-master-guardrails-api-test"
SECRET = "literal-guard-key-Unmistakable-4417"
FILTER = {
    "name": "no-ssn",
    "kind": "litellm_content_filter",
    "modes": ["pre_call", "post_call"],
    "params": {
        "patterns": [{"pattern_type": "prebuilt", "pattern_name": "us_ssn", "action": "MASK"}],
        "api_key": SECRET,
        "headers": {"Authorization": "Bearer " + SECRET, "X-Env": "os.environ/GUARD_TOKEN"},
    },
}


@pytest.fixture
def api(db, settings) -> Client:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    return Client(HTTP_AUTHORIZATION=f"Bearer {MASTER}")


def send(client: Client, method: str, url: str, body: Any = None) -> Any:
    call = getattr(client, method)
    if body is None:
        return call(url)
    return call(url, data=json.dumps(body), content_type="application/json")


@pytest.mark.django_db(transaction=True)
def test_crud_with_secrets_masked_and_encrypted(api: Client) -> None:
    created = send(api, "post", "/api/guardrails/", FILTER)
    assert created.status_code == 201, created.content
    body = created.json()
    assert SECRET not in created.content.decode()
    assert body["params"]["api_key"] == "•••••••• (stored encrypted)"
    assert body["params"]["headers"]["X-Env"] == "os.environ/GUARD_TOKEN"
    assert body["modes"] == ["pre_call", "post_call"] and body["timeout"] == 5.0
    assert body["unreachable_fallback"] == "fail_closed" and body["from_config"] is False
    row = Guardrail.objects.get(name="no-ssn")
    assert SECRET not in json.dumps(row.params)
    assert row.stored_params()["api_key"] == SECRET
    entry = registry.current().guardrails["no-ssn"]  # the snapshot holds the plaintext
    assert entry.params["headers"]["Authorization"] == "Bearer " + SECRET
    assert SECRET not in send(api, "get", "/api/guardrails/").content.decode()
    read = send(api, "get", f"/api/guardrails/{row.pk}")
    assert read.status_code == 200 and SECRET not in read.content.decode()
    # The masked params sent back keep the stored secrets; a mode as one string.
    patched = send(
        api,
        "patch",
        f"/api/guardrails/{row.pk}",
        {"params": read.json()["params"], "modes": "during_call", "monitor": True},
    )
    assert patched.status_code == 200, patched.content
    row.refresh_from_db()
    assert row.stored_params()["api_key"] == SECRET and row.modes == ["during_call"]
    assert registry.current().guardrails["no-ssn"].monitor is True
    # A mask where nothing is stored is refused.
    refused = send(
        api,
        "patch",
        f"/api/guardrails/{row.pk}",
        {"params": {**FILTER["params"], "other_token": "•••••••• (stored encrypted)"}},
    )
    assert refused.status_code == 422
    assert list(refused.json()["errors"]) == ["params.other_token"]
    assert send(api, "delete", f"/api/guardrails/{row.pk}").status_code == 204
    assert not Guardrail.objects.exists() and "no-ssn" not in registry.current().guardrails


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"kind": "no-such-kind"}, "kind"),
        ({"modes": ["sometimes"]}, "modes"),
        ({"modes": []}, "modes"),
        ({"timeout": 0}, "timeout"),
        ({"unreachable_fallback": "shrug"}, "unreachable_fallback"),
        ({"name": "not a slug!"}, "name"),
        (
            {"params": {"patterns": [{"pattern_type": "regex", "pattern": "(unclosed"}]}},
            "params.patterns[0].pattern",
        ),
        ({"params": {"blocked_words": [{"keyword": " "}]}}, "params.blocked_words[0].keyword"),
        ({"params": {}}, "params"),
    ],
)
def test_a_bad_setting_is_a_422_naming_the_field_and_saves_nothing(
    api: Client, change: dict[str, Any], field: str
) -> None:
    answer = send(api, "post", "/api/guardrails/", {**FILTER, **change})
    assert answer.status_code == 422, answer.content
    assert field in answer.json()["errors"], answer.json()
    assert not Guardrail.objects.exists()


def test_an_update_refused_leaves_the_row_as_it_was(api: Client) -> None:
    made = send(api, "post", "/api/guardrails/", FILTER).json()
    bad = {"params": {"patterns": [{"pattern": "[z-a]"}]}, "description": "changed"}
    answer = send(api, "patch", f"/api/guardrails/{made['id']}", bad)
    assert answer.status_code == 422 and "params.patterns[0].pattern" in answer.json()["errors"]
    row = Guardrail.objects.get()
    assert row.description == "" and row.params["patterns"][0]["pattern_name"] == "us_ssn"


def test_a_duplicate_name_is_refused(api: Client) -> None:
    assert send(api, "post", "/api/guardrails/", FILTER).status_code == 201
    again = send(api, "post", "/api/guardrails/", FILTER)
    assert again.status_code == 422 and "name" in again.json()["errors"]


def test_refused_environment_references_are_a_422(api: Client, settings) -> None:
    settings.SWITCHYARD_ENV_ALLOW = "GUARD_*"
    body = {**FILTER, "params": {**FILTER["params"], "api_key": "os.environ/SECRET_KEY"}}
    answer = send(api, "post", "/api/guardrails/", body)
    assert answer.status_code == 422 and "params.api_key" in answer.json()["errors"]


def test_every_change_is_an_audit_row_without_the_secret(api: Client) -> None:
    made = send(api, "post", "/api/guardrails/", FILTER).json()
    send(api, "patch", f"/api/guardrails/{made['id']}", {"default_on": True})
    send(api, "patch", f"/api/guardrails/{made['id']}", {"default_on": True})  # no change
    send(api, "delete", f"/api/guardrails/{made['id']}")
    events = list(AuditEvent.objects.filter(object_type="guardrail").order_by("id"))
    assert [e.action for e in events] == ["create", "update", "delete"]
    assert all(e.actor_kind == "master" and e.object_name == "no-ssn" for e in events)
    assert events[1].changes == {"default_on": [False, True]}
    assert SECRET not in json.dumps([e.changes for e in events])


def test_delete_is_refused_while_keys_teams_or_routes_name_it(api: Client) -> None:
    made = send(api, "post", "/api/guardrails/", FILTER).json()
    team = Team.objects.create(name="alpha", guardrails=["no-ssn"])
    Route.objects.create(name="chat", guardrails=["no-ssn"])
    ApiKey.objects.create(name="k1", prefix="sy-1", key_hash="a" * 64, guardrails=["no-ssn"])
    answer = send(api, "delete", f"/api/guardrails/{made['id']}")
    assert answer.status_code == 409
    message = json.dumps(answer.json())
    assert "keys k1" in message and "teams alpha" in message and "routes chat" in message
    assert Guardrail.objects.exists()
    team.guardrails = []
    team.save()
    Route.objects.update(guardrails=[])
    ApiKey.objects.update(guardrails=[])
    assert send(api, "delete", f"/api/guardrails/{made['id']}").status_code == 204


# --- roles -----------------------------------------------------------------------------------


@pytest.fixture
def people(db) -> dict[str, Client]:
    clients = {}
    team = Team.objects.create(name="alpha")
    for role in roles.ROLES:
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        if role in (roles.EDITOR, roles.MEMBER, roles.VIEWER):
            Membership.objects.create(user=user, team=team, role=role)
        client = Client()
        client.force_login(user)
        clients[role] = client
    return clients


def test_owners_and_admins_manage_others_read_masked(people: dict[str, Client]) -> None:
    for role in (roles.EDITOR, roles.MEMBER, roles.VIEWER):
        refused = send(people[role], "post", "/api/guardrails/", FILTER)
        assert refused.status_code == 403 and "detail" in refused.json(), role
    made = send(people[roles.ADMIN], "post", "/api/guardrails/", FILTER)
    assert made.status_code == 201
    pk = made.json()["id"]
    for role in roles.ROLES:
        listed = send(people[role], "get", "/api/guardrails/")
        assert listed.status_code == 200, role
        assert listed.json()[0]["name"] == "no-ssn" and listed.json()[0]["kind"]
        assert SECRET not in listed.content.decode(), role
        read = send(people[role], "get", f"/api/guardrails/{pk}")
        assert read.status_code == 200 and SECRET not in read.content.decode()
    for role in (roles.EDITOR, roles.MEMBER, roles.VIEWER):
        assert (
            send(people[role], "patch", f"/api/guardrails/{pk}", {"monitor": True}).status_code
            == 403
        )
        assert send(people[role], "delete", f"/api/guardrails/{pk}").status_code == 403
    assert (
        send(people[roles.OWNER], "patch", f"/api/guardrails/{pk}", {"monitor": True}).status_code
        == 200
    )
    assert send(people[roles.OWNER], "delete", f"/api/guardrails/{pk}").status_code == 204


# --- the guardrails lists of keys, teams and routes ------------------------------------------


def test_keys_carry_guardrails_by_name(api: Client, people: dict[str, Client]) -> None:
    send(api, "post", "/api/guardrails/", FILTER)
    made = send(api, "post", "/api/keys/", {"name": "svc", "guardrails": ["no-ssn"]})
    assert made.status_code == 201 and made.json()["guardrails"] == ["no-ssn"]
    key = ApiKey.objects.get(name="svc")
    registry.rebuild()  # (on commit; this test's transaction never commits)
    assert registry.current().keys[key.key_hash].guardrails == ("no-ssn",)
    unknown = send(api, "post", "/api/keys/", {"name": "bad", "guardrails": ["no-ssn", "ghost"]})
    assert unknown.status_code == 422 and "ghost" in unknown.json()["errors"]["guardrails"][0]
    assert not ApiKey.objects.filter(name="bad").exists()
    patched = send(api, "patch", f"/api/keys/{key.pk}", {"guardrails": []})
    assert patched.status_code == 200 and patched.json()["guardrails"] == []
    refused = send(api, "patch", f"/api/keys/{key.pk}", {"guardrails": ["ghost"]})
    assert refused.status_code == 422 and "guardrails" in refused.json()["errors"]
    # A member attaches guardrails to their own key.
    mine = send(people[roles.MEMBER], "post", "/api/keys/", {"name": "m", "guardrails": ["no-ssn"]})
    assert mine.status_code == 201 and mine.json()["guardrails"] == ["no-ssn"]
    assert send(people[roles.MEMBER], "get", f"/api/keys/{mine.json()['id']}").json()[
        "guardrails"
    ] == ["no-ssn"]


def test_teams_carry_guardrails_by_name(api: Client) -> None:
    send(api, "post", "/api/guardrails/", FILTER)
    made = send(api, "post", "/api/teams/", {"name": "beta", "guardrails": ["no-ssn"]})
    assert made.status_code == 201 and made.json()["guardrails"] == ["no-ssn"]
    team = Team.objects.get(name="beta")
    unknown = send(api, "patch", f"/api/teams/{team.pk}", {"guardrails": ["ghost"]})
    assert unknown.status_code == 422 and "ghost" in unknown.json()["errors"]["guardrails"][0]
    team.refresh_from_db()
    assert team.guardrails == ["no-ssn"]
    # A key of the team runs the team's guardrails too (the snapshot joins them).
    key = send(api, "post", "/api/keys/", {"name": "tk", "team": "beta"}).json()
    row = ApiKey.objects.get(pk=key["id"])
    registry.rebuild()
    assert registry.current().keys[row.key_hash].guardrails == ("no-ssn",)


def test_routes_carry_guardrails_by_name(api: Client) -> None:
    send(api, "post", "/api/guardrails/", FILTER)
    made = send(api, "post", "/api/routes/", {"name": "chat", "guardrails": ["no-ssn"]})
    assert made.status_code == 201 and made.json()["guardrails"] == ["no-ssn"]
    registry.rebuild()
    assert registry.current().routes["chat"].guardrails == ("no-ssn",)
    route = Route.objects.get(name="chat")
    unknown = send(api, "patch", f"/api/routes/{route.pk}", {"guardrails": ["ghost"]})
    assert unknown.status_code == 422 and "ghost" in unknown.json()["errors"]["guardrails"][0]
    bad = send(api, "post", "/api/routes/", {"name": "other", "guardrails": ["ghost"]})
    assert bad.status_code == 422 and not Route.objects.filter(name="other").exists()


def test_the_openapi_document_names_the_guardrail_operations(api: Client) -> None:
    schema = send(api, "get", "/api/openapi.json").json()
    assert {"get", "post"} <= set(schema["paths"]["/api/guardrails/"])
    assert {"get", "patch", "delete"} <= set(schema["paths"]["/api/guardrails/{guardrail_id}"])
    props = schema["components"]["schemas"]["GuardrailOut"]["properties"]
    assert {"name", "kind", "modes", "params", "default_on"} <= set(props)
    assert "guardrails" in schema["components"]["schemas"]["KeyOut"]["properties"]


def test_header_values_and_url_credentials_are_secret_by_type(api: Client, settings) -> None:
    """M18: header values whose names no heuristic knew (``Cookie``, ``Session``,
    ``X-Pass``, ``X-Bearer``) and an ``api_base``'s user info and query were stored in
    clear and shown to every role, exported and audited. They are secret because the kind
    declares header values and URL credentials secret (``Kind.params``)."""
    from gateway.ops.litellm.export import export_config

    headers = {
        "Cookie": "sid=cookie-value-0001",
        "Session": "session-value-0002",
        "X-Pass": "pass-value-0003",
        "X-Bearer": "bearer-value-0004",
    }
    base = "https://guard-user:url-password-0005@guard.example.com/v1?sig=url-query-0006"
    body = {
        "name": "svc",
        "kind": "generic_guardrail_api",
        "modes": ["pre_call"],
        "params": {"api_base": base, "headers": headers},
    }
    made = send(api, "post", "/api/guardrails/", body)
    assert made.status_code == 201, made.content
    plain = [*headers.values(), "url-password-0005", "url-query-0006"]

    def leaked(text: str) -> list[str]:
        return [value for value in plain if value in text]

    row = Guardrail.objects.get(name="svc")
    assert leaked(json.dumps(row.params)) == []  # sealed at rest
    assert leaked(made.content.decode()) == []
    assert leaked(api.get(f"/api/guardrails/{row.pk}").content.decode()) == []
    vera = User.objects.create_user("vera", password="pw-123456789")
    roles.set_role(vera, roles.VIEWER)
    Membership.objects.create(user=vera, team=Team.objects.create(name="t"), role=roles.VIEWER)
    viewer = Client()
    viewer.force_login(vera)
    page = viewer.get(f"/guardrails/{row.pk}/")
    assert page.status_code == 200 and "X-Bearer" in page.content.decode()  # live: it shows
    assert leaked(page.content.decode()) == []
    assert leaked(send(viewer, "get", f"/api/guardrails/{row.pk}").content.decode()) == []
    assert leaked(export_config()) == [] and "os.environ/" in export_config()
    changes = json.dumps(list(AuditEvent.objects.values_list("changes", flat=True)))
    assert leaked(changes) == [] and "Cookie" in changes  # the row is audited, masked
    # the check still sends them; a mask sent back keeps them
    assert row.stored_params()["headers"] == headers and row.stored_params()["api_base"] == base
    shown = api.get(f"/api/guardrails/{row.pk}").json()["params"]
    kept = send(api, "patch", f"/api/guardrails/{row.pk}", {"params": shown, "timeout": 3})
    assert kept.status_code == 200, kept.content
    assert Guardrail.objects.get(pk=row.pk).stored_params()["headers"] == headers
    # the control: a URL without credentials and header names are shown as they are
    clean = {**body, "name": "svc-2", "params": {"api_base": "https://guard.example.com/v1"}}
    assert send(api, "post", "/api/guardrails/", clean).json()["params"]["api_base"] == (
        "https://guard.example.com/v1"
    )
    assert set(shown["headers"]) == set(headers)
