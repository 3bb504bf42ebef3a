"""Conversations (gateway/core/conversations): items stored with ids, pages newest
first with ``after``, metadata rules, one key's conversation unseen by another, a turn's
items appended (a resent id made anew) and a lost background run's items forgotten;
a Responses turn naming a conversation rebuilt from its items (gateway/features/responses/state.begin)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from gateway.base import errors
from gateway.base.entries import MASTER
from gateway.features.responses import conversations
from gateway.features.responses import state as responses_state

ALICE = replace(MASTER, id=1, name="alice", prefix="sy-a")
BOB = replace(MASTER, id=2, name="bob", prefix="sy-b")


def user(text: str) -> dict[str, object]:
    return {"role": "user", "content": text}


def texts(page: dict) -> list[str]:
    return [item["content"][0]["text"] for item in page["data"]]


@pytest.mark.django_db
def test_items_page_newest_first_after_an_item() -> None:
    conv = conversations.create(ALICE, {"items": [user(f"n{i}") for i in range(5)]})
    page = conversations.list_items(conv["id"], ALICE, {"limit": "2"})
    assert texts(page) == ["n4", "n3"] and page["has_more"]
    assert page["first_id"] == page["data"][0]["id"] and page["last_id"] == page["data"][1]["id"]
    rest = conversations.list_items(conv["id"], ALICE, {"after": page["last_id"]})
    assert texts(rest) == ["n2", "n1", "n0"] and not rest["has_more"]
    asc = conversations.list_items(conv["id"], ALICE, {"order": "asc", "after": page["last_id"]})
    assert texts(asc) == ["n4"]
    for bad in ({"limit": "0"}, {"limit": "101"}, {"order": "up"}, {"after": "msg_nope"}):
        with pytest.raises(errors.InvalidRequest):
            conversations.list_items(conv["id"], ALICE, bad)


@pytest.mark.django_db
def test_metadata_and_items_are_checked() -> None:
    for body in (
        {"metadata": {"k": 1}},
        {"metadata": {str(i): "v" for i in range(17)}},
        {"metadata": {"k" * 65: "v"}},
        {"items": [user("x")] * 21},
        {"items": ["not an item"]},
        {"items": [{"type": "item_reference", "id": "msg_1"}]},
    ):
        with pytest.raises(errors.InvalidRequest):
            conversations.create(ALICE, body)
    conv = conversations.create(ALICE, {})
    with pytest.raises(errors.InvalidRequest):
        conversations.update(conv["id"], ALICE, {})  # metadata is required
    with pytest.raises(errors.InvalidRequest):
        conversations.add_items(conv["id"], ALICE, {"items": []})


@pytest.mark.django_db
def test_another_keys_conversation_is_not_found() -> None:
    conv = conversations.create(ALICE, {"items": [user("mine")], "metadata": {"a": "b"}})
    item_id = conversations.list_items(conv["id"], ALICE, {})["data"][0]["id"]
    for attempt in (
        lambda: conversations.retrieve(conv["id"], BOB),
        lambda: conversations.retrieve(conv["id"], MASTER),  # the master key's are its own
        lambda: conversations.update(conv["id"], BOB, {"metadata": {}}),
        lambda: conversations.delete(conv["id"], BOB),
        lambda: conversations.get_item(conv["id"], item_id, BOB),
        lambda: conversations.delete_item(conv["id"], item_id, BOB),
        lambda: conversations.history(conv["id"], BOB),
    ):
        with pytest.raises(conversations.ConversationNotFound):
            attempt()
    assert conversations.retrieve(conv["id"], ALICE)["metadata"] == {"a": "b"}
    assert len(conversations.history(conv["id"], ALICE)) == 1


@pytest.mark.django_db
def test_a_turns_items_are_appended_and_a_lost_runs_forgotten() -> None:
    conv = conversations.create(ALICE, {"items": [user("first")]})
    [first] = conversations.history(conv["id"], ALICE)
    resent = {**first}  # an id already there is made anew, never a second row for it
    conversations.append(conv["id"], [resent], "resp_bg")
    history = conversations.history(conv["id"], ALICE)
    assert len(history) == 2 and history[1]["id"] != first["id"]
    conversations.forget_turn("resp_bg")
    assert conversations.history(conv["id"], ALICE) == [first]
    conversations.delete(conv["id"], ALICE)
    conversations.append(conv["id"], [user("late")])  # deleted meanwhile: nothing


@pytest.mark.django_db(transaction=True)
async def test_a_turn_naming_a_conversation_is_rebuilt_from_its_items() -> None:
    from asgiref.sync import sync_to_async

    conv = await sync_to_async(conversations.create)(ALICE, {"items": [user("earlier")]})
    body = {"model": "m", "conversation": {"id": conv["id"]}, "input": "now", "store": False}
    turn = await responses_state.begin(body, ALICE)
    assert "conversation" not in body and turn.conversation_id == conv["id"] and turn.keeps
    assert [i.get("content") for i in body["input"]] == [
        [{"type": "input_text", "text": "earlier"}],
        "now",
    ]
    with pytest.raises(errors.InvalidRequest):  # both: refused
        await responses_state.begin(
            {"model": "m", "conversation": conv["id"], "previous_response_id": "resp_1"}, ALICE
        )
    with pytest.raises(conversations.ConversationNotFound):
        await responses_state.begin({"model": "m", "conversation": conv["id"]}, BOB)
