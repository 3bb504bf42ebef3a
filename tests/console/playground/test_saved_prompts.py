"""Named saved prompts: saved per console user (a name of theirs replaces its prompt),
listed, loaded into a new comparison and deleted; another user's are out of reach."""

from __future__ import annotations

import json

import orjson
import pytest
from django.contrib.auth.models import User
from django.test import Client

from console.models import SavedPrompt

from ..playground_support import make_echo_routes

SPEC = {
    "system": "You are terse.",
    "messages": [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
        {"role": "user", "content": "And 3+3?"},
    ],
    "params": {"temperature": 0.3, "reasoning_effort": "high"},
    "tools": [{"name": "calc", "parameters": {"type": "object"}}],
    "columns": [{"route": "ignored", "dialect": "openai"}],
}


def save(client: Client, name: str, spec: dict | None = None, **headers):
    data = {"name": name, "spec": orjson.dumps(spec or SPEC).decode()}
    return client.post("/playground/prompts/", data, HTTP_HX_REQUEST="true", **headers)


def prefill_of(html: str) -> dict:
    start = html.index('<script id="pg-prefill" type="application/json">') + 48
    return json.loads(html[start : html.index("</script>", start)])


@pytest.fixture
def other_client(db) -> Client:
    client = Client()
    client.force_login(User.objects.create_user("eve", password="pw-123456789", is_staff=True))
    return client


def test_a_prompt_is_saved_listed_and_loaded(staff_client: Client, staff) -> None:
    make_echo_routes({"alpha": {}, "beta": {}})
    response = save(staff_client, "  Arithmetic   check ")
    assert response.status_code == 200
    html = response.content.decode()
    assert "Saved “Arithmetic check”." in html and "Saved prompts (1)" in html
    prompt = SavedPrompt.objects.get()
    assert (prompt.owner, prompt.name, prompt.system) == (
        staff,
        "Arithmetic check",
        "You are terse.",
    )
    assert prompt.messages == SPEC["messages"]
    assert prompt.params == {"temperature": 0.3, "reasoning_effort": "high"}
    assert prompt.tools == [{"name": "calc", "description": "", "parameters": {"type": "object"}}]
    assert f'href="/playground/?prompt={prompt.pk}"' in html

    page = staff_client.get(f"/playground/?prompt={prompt.pk}").content.decode()
    prefill = prefill_of(page)
    assert prefill["system"] == "You are terse." and prefill["messages"] == SPEC["messages"]
    assert prefill["params"] == prompt.params and prefill["tools"] == prompt.tools
    # the columns are the page's defaults, not what was on screen when it was saved
    assert [c["route"] for c in prefill["columns"]] == ["alpha", "beta"]
    assert 'value="Arithmetic check"' in page  # saving again replaces it
    assert ">And 3+3?</textarea>" in page


def test_the_same_name_replaces_and_names_are_per_user(
    staff_client: Client, other_client: Client
) -> None:
    save(staff_client, "daily")
    changed = {**SPEC, "system": "Be verbose."}
    assert "Replaced “daily”." in save(staff_client, "daily", changed).content.decode()
    assert SavedPrompt.objects.get().system == "Be verbose."
    save(other_client, "daily")  # eve's own "daily"
    assert SavedPrompt.objects.count() == 2
    mine = SavedPrompt.objects.get(owner__username="ops")
    # eve sees, loads and deletes only her own
    page = other_client.get("/playground/").content.decode()
    assert "Saved prompts (1)" in page and f"?prompt={mine.pk}" not in page
    assert other_client.get(f"/playground/?prompt={mine.pk}").status_code == 404
    assert other_client.post(f"/playground/prompts/{mine.pk}/delete/").status_code == 404
    assert SavedPrompt.objects.filter(pk=mine.pk).exists()


def test_a_prompt_is_deleted(staff_client: Client) -> None:
    save(staff_client, "old")
    prompt = SavedPrompt.objects.get()
    response = staff_client.post(f"/playground/prompts/{prompt.pk}/delete/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "Deleted “old”." in html and "Saved prompts (0)" in html
    assert not SavedPrompt.objects.exists()
    # without JavaScript: back to the playground
    save(staff_client, "again")
    again = SavedPrompt.objects.get()
    plain = staff_client.post(f"/playground/prompts/{again.pk}/delete/")
    assert plain.status_code == 302 and plain["Location"] == "/playground/"


@pytest.mark.parametrize(
    ("name", "spec", "error"),
    [
        ("", SPEC, "give the prompt a name"),
        ("x" * 101, SPEC, "at most 100 characters"),
        ("empty", {**SPEC, "messages": [{"role": "user", "content": " "}]}, "write a prompt"),
        ("hot", {**SPEC, "params": {"temperature": 5}}, "temperature must be between 0 and 2"),
    ],
)
def test_what_cannot_be_saved_is_said(
    staff_client: Client, name: str, spec: dict, error: str
) -> None:
    response = save(staff_client, name, spec)
    assert response.status_code == 200  # htmx swaps only a 2xx: the error shows in the box
    assert error in response.content.decode()
    assert not SavedPrompt.objects.exists()
    missing = staff_client.post("/playground/prompts/", {"name": "no spec"})
    assert missing.status_code == 400 and b"nothing to save" in missing.content


def test_saving_needs_staff_and_post(client: Client, staff_client: Client) -> None:
    assert client.post("/playground/prompts/", {"name": "x"}).status_code in (302, 403)
    assert staff_client.get("/playground/prompts/").status_code == 405
