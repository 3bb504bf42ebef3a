"""Stored Responses API responses (gateway/features/responses/state): what a turn stores, how a
chain is rebuilt as items for the parser, per-key visibility, delete, input-item
pages, spotting the final stream event, retention."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from gateway.base import errors
from gateway.base.entries import MASTER
from gateway.base.streaming import sse_bytes
from gateway.base.types import Text, Thinking, ToolCall, ToolResult
from gateway.codecs.openai_responses.inbound import parse_request
from gateway.features.responses import state as responses_state
from gateway.models import StoredResponse

ALICE = replace(MASTER, id=1, name="alice", prefix="sy-a")
BOB = replace(MASTER, id=2, name="bob", prefix="sy-b")


def response(rid: str, output: list[dict[str, Any]], instructions: str = "") -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "status": "completed",
        "instructions": instructions or None,
        "output": output,
        "usage": {"input_tokens": 3, "output_tokens": 2, "total_tokens": 5},
    }


CALL = {
    "id": "fc_1",
    "type": "function_call",
    "call_id": "call_1",
    "name": "get_weather",
    "arguments": '{"city": "Paris"}',
    "status": "completed",
}
REASONING = {
    "id": "rs_1",
    "type": "reasoning",
    "summary": [{"type": "summary_text", "text": "need the weather"}],
    "encrypted_content": "sig-1",
}


async def stored_first_turn(key=ALICE) -> str:  # type: ignore[no-untyped-def]
    body = {"model": "m", "input": "Weather in Paris?", "instructions": "Be brief."}
    turn = await responses_state.begin(body, key)
    assert body["input"] == "Weather in Paris?"  # a first turn's input is untouched
    await turn.keep(response("resp_1", [REASONING, CALL], "Be brief."))
    return "resp_1"


@pytest.mark.django_db(transaction=True)
async def test_a_turn_stores_its_normalized_input_output_and_response() -> None:
    await stored_first_turn()
    row = await StoredResponse.objects.aget(id="resp_1")
    assert row.key_id == 1 and row.status == "completed" and row.instructions == "Be brief."
    [item] = row.input_items
    assert item["type"] == "message" and item["role"] == "user" and item["id"].startswith("msg_")
    assert item["content"] == [{"type": "input_text", "text": "Weather in Paris?"}]
    assert row.output == [REASONING, CALL] and row.response["id"] == "resp_1"


@pytest.mark.django_db(transaction=True)
async def test_a_chain_is_rebuilt_as_items_the_parser_turns_into_messages() -> None:
    await stored_first_turn()
    output = [{"type": "function_call_output", "call_id": "call_1", "output": "18C"}]
    body = {"model": "m", "input": output, "previous_response_id": "resp_1"}
    turn = await responses_state.begin(body, ALICE)
    assert all("id" not in item for item in body["input"])  # server ids stay here
    request = parse_request(body, {})
    assert request.system == []  # the first turn's instructions are not carried
    user, assistant, results = request.messages
    assert user.parts == [Text("Weather in Paris?")]
    assert assistant.parts == [
        Thinking("need the weather", signature="sig-1"),
        ToolCall(
            id="call_1",
            name="get_weather",
            arguments={"city": "Paris"},
        ),
    ]
    assert results.parts == [ToolResult("call_1", [Text("18C")])]
    assert request.echo["previous_response_id"] == "resp_1"
    # the second turn stores its own turn only, linked to the first
    await turn.keep(
        response(
            "resp_2",
            [
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "18C"}],
                }
            ],
        )
    )
    row = await StoredResponse.objects.aget(id="resp_2")
    assert [i["type"] for i in row.input_items] == ["function_call_output"]
    assert row.previous_response_id == "resp_1"
    # a third turn sees all of it in order
    body3 = {"model": "m", "input": "thanks", "previous_response_id": "resp_2"}
    await responses_state.begin(body3, ALICE)
    kinds = [i.get("type") for i in body3["input"]]
    assert kinds == [
        "message",
        "reasoning",
        "function_call",
        "function_call_output",
        "message",
        "message",
    ]
    texts = [i["content"] for i in body3["input"] if i.get("type") == "message"]
    assert texts[-1] == "thanks" and texts[0][0]["text"] == "Weather in Paris?"


@pytest.mark.django_db(transaction=True)
async def test_a_chain_missing_an_earlier_turn_is_refused_not_cut() -> None:
    await stored_first_turn()
    turn = await responses_state.begin(
        {"model": "m", "input": "more", "previous_response_id": "resp_1"}, ALICE
    )
    await turn.keep(response("resp_2", []))
    await responses_state.delete("resp_1", ALICE)
    with pytest.raises(errors.InvalidRequest) as caught:
        await responses_state.begin(
            {"model": "m", "input": "x", "previous_response_id": "resp_2"}, ALICE
        )
    assert caught.value.param == "previous_response_id"
    assert "no longer stored" in caught.value.message


@pytest.mark.django_db(transaction=True)
async def test_another_key_sees_nothing_and_gets_the_unknown_id_404() -> None:
    await stored_first_turn()
    for call in (
        responses_state.retrieve("resp_1", BOB),
        responses_state.delete("resp_1", BOB),
        responses_state.input_items("resp_1", BOB, {}),
    ):
        with pytest.raises(responses_state.ResponseNotFound) as caught:
            await call
        assert caught.value.status == 404 and "resp_1" in caught.value.message
    # continuing it: Open Responses' previous_response_not_found, a 400
    with pytest.raises(errors.InvalidRequest) as refused:
        await responses_state.begin(
            {"model": "m", "input": "x", "previous_response_id": "resp_1"}, BOB
        )
    assert refused.value.status == 400 and refused.value.code == "previous_response_not_found"
    assert refused.value.param == "previous_response_id" and "resp_1" in refused.value.message
    with pytest.raises(responses_state.ResponseNotFound):
        await responses_state.retrieve("resp_1", MASTER)  # the master key's are its own
    assert (await responses_state.retrieve("resp_1", ALICE))["id"] == "resp_1"


@pytest.mark.django_db(transaction=True)
async def test_delete_removes_it_once() -> None:
    await stored_first_turn()
    assert await responses_state.delete("resp_1", ALICE) == {
        "id": "resp_1",
        "object": "response",
        "deleted": True,
    }
    with pytest.raises(responses_state.ResponseNotFound):
        await responses_state.retrieve("resp_1", ALICE)
    with pytest.raises(responses_state.ResponseNotFound):
        await responses_state.delete("resp_1", ALICE)


@pytest.mark.django_db(transaction=True)
async def test_store_false_keeps_nothing_and_leaves_the_body_alone() -> None:
    body = {"model": "m", "input": "hi", "store": False}
    turn = await responses_state.begin(body, ALICE)
    await turn.keep(response("resp_x", []))
    assert not await StoredResponse.objects.filter(id="resp_x").aexists()
    with pytest.raises(errors.InvalidRequest) as caught:
        await responses_state.begin({"model": "m", "input": "hi", "store": "no"}, ALICE)
    assert caught.value.param == "store"


def test_input_item_pages() -> None:
    items = [{"id": f"msg_{n}", "type": "message"} for n in range(5)]
    page = responses_state.page_input_items(items, {"limit": "2"})
    assert [i["id"] for i in page["data"]] == ["msg_4", "msg_3"]  # newest first
    assert (page["first_id"], page["last_id"], page["has_more"]) == ("msg_4", "msg_3", True)
    page = responses_state.page_input_items(items, {"order": "asc", "after": "msg_2"})
    assert [i["id"] for i in page["data"]] == ["msg_3", "msg_4"] and page["has_more"] is False
    for query, param in (
        ({"limit": "0"}, "limit"),
        ({"order": "up"}, "order"),
        ({"after": "nope"}, "after"),
    ):
        with pytest.raises(errors.InvalidRequest) as caught:
            responses_state.page_input_items(items, query)
        assert caught.value.param == param


def test_final_response_is_found_only_in_final_events() -> None:
    final = {"type": "response.completed", "sequence_number": 9, "response": {"id": "resp_9"}}
    assert responses_state.final_response(sse_bytes(orjson.dumps(final), "response.completed")) == {
        "id": "resp_9"
    }
    delta = {"type": "response.output_text.delta", "delta": "response.completed"}
    assert (
        responses_state.final_response(sse_bytes(orjson.dumps(delta), "response.output_text.delta"))
        is None
    )
    failed = {"type": "response.failed", "response": {"id": "resp_f", "status": "failed"}}
    assert responses_state.final_response(sse_bytes(orjson.dumps(failed)))["id"] == "resp_f"


@pytest.mark.django_db
def test_prune_deletes_only_rows_past_retention() -> None:
    old = datetime.now(UTC) - timedelta(days=40)
    StoredResponse.objects.create(id="resp_old", created_at=old, response={})
    StoredResponse.objects.create(id="resp_new", response={})
    assert responses_state.prune(timedelta(days=30), batch_size=1) == 1
    assert list(StoredResponse.objects.values_list("id", flat=True)) == ["resp_new"]


@pytest.mark.django_db
def test_the_journal_prunes_stored_responses_even_when_logs_are_kept(settings) -> None:  # type: ignore[no-untyped-def]
    from gateway import journal

    settings.SWITCHYARD_RESPONSES_RETENTION_DAYS = 7
    old = datetime.now(UTC) - timedelta(days=8)
    StoredResponse.objects.create(id="resp_old", created_at=old, response={})
    StoredResponse.objects.create(id="resp_new", response={})
    journal.Writer._prune_guarded(None, 10)  # log retention 0: logs kept forever
    assert list(StoredResponse.objects.values_list("id", flat=True)) == ["resp_new"]
    settings.SWITCHYARD_RESPONSES_RETENTION_DAYS = 0  # 0: kept
    StoredResponse.objects.create(id="resp_old2", created_at=old, response={})
    journal.Writer._prune_guarded(None, 10)
    assert StoredResponse.objects.filter(id="resp_old2").exists()


async def test_a_socket_remembers_its_latest_responses_without_the_database() -> None:
    """No database here (no django_db mark): store false on a socket lives in memory."""
    memory = responses_state.SocketMemory()
    turn = await responses_state.begin(
        {"model": "m", "input": "one", "store": False}, ALICE, memory
    )
    await turn.keep(response("resp_m1", [CALL]))
    body = {"model": "m", "input": "two", "store": False, "previous_response_id": "resp_m1"}
    turn = await responses_state.begin(body, ALICE, memory)
    assert [i.get("type") for i in body["input"]] == ["message", "function_call", "message"]
    await turn.keep(response("resp_m2", []))
    assert list(memory.chains) == ["resp_m1", "resp_m2"]
    third = await responses_state.begin({"model": "m", "input": "3", "store": False}, ALICE, memory)
    await third.keep(response("resp_m3", []))
    assert list(memory.chains) == ["resp_m2", "resp_m3"]  # bounded: the latest two
    assert len(memory.chains["resp_m3"]) == 1 and len(memory.chains["resp_m2"]) == 3
