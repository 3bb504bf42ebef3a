"""The Prompts pages: create a prompt, add a version, move a label, the diff between two
versions (every line of both, marked), and who may change what (rule prompt.change:
authors their own, admins any, viewers none)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.features.prompts import versions
from gateway.models import Prompt
from tests.console.role_sets import ALL, KEY_EDITORS, Expectation

# Who may open the prompt pages (the role matrix collects this): every role reads,
# playground users write (their own: rule prompt.change).
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "prompts": (ALL, KEY_EDITORS),
    "prompt-detail": (ALL, KEY_EDITORS),
    "prompt-diff": (ALL, ALL),
}


@pytest.fixture
def people(db) -> dict[str, Client]:
    clients = {}
    for role in ("admin", "member", "viewer"):
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        clients[role] = Client()
        clients[role].force_login(user)
    return clients


def test_create_version_label_and_diff(staff_client: Client) -> None:
    made = staff_client.post("/prompts/", {
        "name": "support.triage", "description": "first answer",
        "role": ["system", "user"], "content": ["You answer for {{company}}.", "Ticket: {{ticket}}"],
        "temperature": "0.2", "labels": "production",
    })  # fmt: skip
    assert made.status_code == 302 and made["Location"] == "/prompts/support.triage/"
    prompt = Prompt.objects.get()
    v1 = prompt.versions.get()
    assert v1.variables == ["company", "ticket"] and v1.params == {"temperature": 0.2}
    page = staff_client.get("/prompts/").content.decode()
    assert "support.triage" in page and "production → v1" in page

    saved = staff_client.post("/prompts/support.triage/", {
        "action": "version", "role": ["system", "user", "user"],
        "content": ["You answer for {{company}}, briefly.", "Ticket: {{ticket}}", ""],
        "note": "shorter", "labels": "staging",
    })  # fmt: skip
    assert saved.status_code == 200 and "Saved version 2." in saved.content.decode()
    assert prompt.versions.get(number=2).messages == [
        {"role": "system", "content": "You answer for {{company}}, briefly."},
        {"role": "user", "content": "Ticket: {{ticket}}"},
    ]  # the empty row left out
    moved = staff_client.post(
        "/prompts/support.triage/", {"action": "label", "label": "production", "version": "2"}
    )
    assert "production now points at version 2" in moved.content.decode()
    assert {label.name: label.version.number for label in prompt.labels.all()} == {
        "production": 2,
        "staging": 2,
    }

    diff = staff_client.get("/prompts/support.triage/diff/?from=1&to=2").content.decode()
    assert '<tr class="removed">' in diff and '<tr class="added">' in diff
    assert "You answer for {{company}}, briefly." in diff and "+1" in diff
    assert '<tr class="same">' in diff and "Ticket: {{ticket}}" in diff
    partial = staff_client.get("/prompts/support.triage/diff/?from=2&to=1", HTTP_HX_REQUEST="true")
    assert partial.content.decode().lstrip().startswith('<div id="diff"')  # the partial only


def test_a_bad_version_is_said_and_nothing_is_saved(staff_client: Client) -> None:
    versions.create("p", versions.draft("Hi {{name}}"))
    refused = staff_client.post(
        "/prompts/p/", {"action": "version", "role": ["user"], "content": [""]}
    )
    assert refused.status_code == 422 and "at least one message" in refused.content.decode()
    refused = staff_client.post(
        "/prompts/p/", {"action": "label", "label": "Bad Label", "version": "1"}
    )
    assert refused.status_code == 422
    assert Prompt.objects.get().versions.count() == 1 and not Prompt.objects.get().labels.exists()
    bad_name = staff_client.post(
        "/prompts/", {"name": "has space", "role": ["user"], "content": ["x"]}
    )
    assert bad_name.status_code == 422 and Prompt.objects.count() == 1


def test_who_may_change_which_prompt(people: dict[str, Client]) -> None:
    body = {"action": "version", "role": ["user"], "content": ["v2 {{x}}"]}
    made = people["member"].post("/prompts/", {"name": "mine", "role": ["user"], "content": ["v1"]})
    assert made.status_code == 302
    assert people["member"].post("/prompts/mine/", body).status_code == 200
    versions.create("theirs", versions.draft("x"))
    assert people["member"].post("/prompts/theirs/", body).status_code == 403
    assert people["admin"].post("/prompts/theirs/", body).status_code == 200
    viewer = people["viewer"]
    assert viewer.get("/prompts/mine/").status_code == 200
    assert "New version" not in viewer.get("/prompts/mine/").content.decode()
    assert (
        viewer.post("/prompts/", {"name": "v", "role": ["user"], "content": ["x"]}).status_code
        == 403
    )
