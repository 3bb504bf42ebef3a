"""The playground and the prompt registry: the form saved as the next version of a
prompt (a new name creates it), a version opened into a new comparison (the version a
request would get when none is named), another user's prompt not changed by a member,
and what cannot be saved said in the box."""

from __future__ import annotations

import json

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from gateway.access import roles
from gateway.features.prompts import versions
from gateway.models import Prompt, PromptVersion
from tests.console.playground_support import make_echo_routes

SPEC = {
    "system": "You are terse for {{team}}.",
    "messages": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And {{a}}+3?"},
    ],
    "params": {"temperature": 0.3, "reasoning_effort": "high"},
    "tools": [{"name": "calc", "parameters": {"type": "object"}}],
    "columns": [{"route": "ignored", "dialect": "openai"}],
}


def save(client: Client, name: str, spec: dict | None = None, note: str = "", **headers):
    data = {"name": name, "note": note, "spec": orjson.dumps(spec or SPEC).decode()}
    return client.post("/playground/prompts/", data, HTTP_HX_REQUEST="true", **headers)


def prefill_of(html: str) -> dict:
    start = html.index('<script id="pg-prefill" type="application/json">') + 48
    return json.loads(html[start : html.index("</script>", start)])


def test_the_form_is_saved_as_versions_and_opened_again(staff_client: Client, staff) -> None:
    make_echo_routes({"alpha": {}, "beta": {}})
    first = save(staff_client, "arithmetic")
    assert first.status_code == 200 and "Saved “arithmetic” v1." in first.content.decode()
    second = save(staff_client, "arithmetic", {**SPEC, "system": "Be verbose."}, note="verbose")
    assert "Saved “arithmetic” v2." in second.content.decode()
    prompt = Prompt.objects.get()
    assert prompt.created_by == staff
    v1 = prompt.versions.get(number=1)
    assert v1.messages[0] == {"role": "system", "content": "You are terse for {{team}}."}
    assert v1.variables == ["team", "a"] and v1.params == SPEC["params"]
    assert v1.tools == [{"name": "calc", "description": "", "parameters": {"type": "object"}}]
    assert prompt.versions.get(number=2).note == "verbose"

    page = staff_client.get("/playground/?prompt=arithmetic&version=1").content.decode()
    prefill = prefill_of(page)
    assert prefill["system"] == "You are terse for {{team}}."
    assert prefill["messages"] == SPEC["messages"] and prefill["params"] == SPEC["params"]
    assert [c["route"] for c in prefill["columns"]] == ["alpha", "beta"]
    assert "open: v1" in page
    # without a version: production's, else the newest
    assert (
        prefill_of(staff_client.get("/playground/?prompt=arithmetic").content.decode())["system"]
        == "Be verbose."
    )
    versions.move_label(prompt, "production", 1)
    assert prefill_of(staff_client.get("/playground/?prompt=arithmetic").content.decode())[
        "system"
    ].startswith("You are terse")
    assert staff_client.get("/playground/?prompt=arithmetic&version=9").status_code == 404
    assert staff_client.get("/playground/?prompt=nope").status_code == 404


def test_a_member_adds_versions_to_their_own_prompts_only(staff_client: Client, db) -> None:
    save(staff_client, "owned-by-ops")
    member = User.objects.create_user("mia", password="pw-123456789")
    roles.set_role(member, "member")
    client = Client()
    client.force_login(member)
    refused = save(client, "owned-by-ops")
    assert "you may not save versions of this prompt" in refused.content.decode()
    assert PromptVersion.objects.count() == 1
    assert "Saved “mine” v1." in save(client, "mine").content.decode()


@pytest.mark.parametrize(
    ("name", "spec", "error"),
    [
        ("", SPEC, "a prompt&#x27;s name is"),
        ("empty", {**SPEC, "messages": [{"role": "user", "content": " "}]}, "write a prompt"),
        ("hot", {**SPEC, "params": {"temperature": 5}}, "temperature must be between 0 and 2"),
        ("files", {**SPEC, "messages": [{"role": "user", "content": "see",
                   "attachments": [{"name": "a.png", "media_type": "image/png", "data": "iVBORw0KGgo="}]}]},
         "text messages only"),
    ],
)  # fmt: skip
def test_what_cannot_be_saved_is_said(
    staff_client: Client, name: str, spec: dict, error: str
) -> None:
    response = save(staff_client, name, spec)
    assert response.status_code == 200  # htmx swaps only a 2xx: the error shows in the box
    assert error in response.content.decode()
    assert not Prompt.objects.exists()
    missing = staff_client.post("/playground/prompts/", {"name": "no-spec"})
    assert missing.status_code == 400 and b"nothing to save" in missing.content


def test_saving_needs_staff_and_post(client: Client, staff_client: Client) -> None:
    assert client.post("/playground/prompts/", {"name": "x"}).status_code in (302, 403)
    assert staff_client.get("/playground/prompts/").status_code == 405
