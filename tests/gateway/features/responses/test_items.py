"""Responses items as the gateway stores them and sends them back: a turn's input with
ids and content lists, the server's fields dropped on the way back in (hosted MCP and
web search items keep what their upstream reads), and which output items are carried
into the next turn."""

from __future__ import annotations

import re

from gateway.features.responses import items


def test_a_string_input_is_one_user_message_with_an_input_text_part() -> None:
    [message] = items.normalize_input("hello")
    assert message["type"] == "message" and message["role"] == "user"
    assert message["content"] == [{"type": "input_text", "text": "hello"}]
    assert message["status"] == "completed"
    assert re.fullmatch(r"msg_[0-9a-f]{32}", message["id"])


def test_each_item_gets_a_type_an_id_and_messages_a_content_list() -> None:
    given = [
        {"role": "assistant", "content": "earlier"},  # no type: a message
        {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c1", "output": "42"},
        {"type": "reasoning", "summary": []},
        {"type": "message", "role": "user", "id": "msg_keep", "status": "incomplete",
         "content": [{"type": "input_text", "text": "as a list"}]},
    ]  # fmt: skip
    out = items.normalize_input(given)
    assert [i["type"] for i in out] == [
        "message",
        "function_call",
        "function_call_output",
        "reasoning",
        "message",
    ]
    assert out[0]["content"] == [{"type": "output_text", "text": "earlier", "annotations": []}]
    assert out[1]["id"].startswith("fc_") and out[2]["id"].startswith("fco_")
    assert out[3]["id"].startswith("item_")
    assert out[4]["id"] == "msg_keep" and out[4]["status"] == "incomplete"  # theirs kept
    assert out[4]["content"] == [{"type": "input_text", "text": "as a list"}]
    assert "id" not in given[0]  # the caller's items are copied, not changed


def test_what_is_no_item_is_left_out() -> None:
    assert items.normalize_input(None) == [] and items.normalize_input({"role": "user"}) == []
    assert items.normalize_input(["text", 3, {"content": "no role, no type"}]) == []


def test_new_ids_are_unique_and_prefixed() -> None:
    first, second = items.new_id("resp"), items.new_id("resp")
    assert first != second and first.startswith("resp_") and len(first) == 37


def test_as_input_drops_the_server_s_id_and_status() -> None:
    message = {
        "type": "message",
        "id": "msg_1",
        "status": "completed",
        "role": "user",
        "content": [],
    }
    assert items.as_input(message) == {"type": "message", "role": "user", "content": []}
    call = {"type": "mcp_call", "id": "mcp_1", "status": "completed", "name": "t"}
    assert items.as_input(call) == {"type": "mcp_call", "id": "mcp_1", "name": "t"}  # id kept
    search = {"type": "web_search_call", "id": "ws_1", "status": "completed"}
    kept = items.as_input(search)
    assert kept == search and kept is not search  # whole, as a copy


def test_only_conversation_items_are_carried_into_the_next_turn() -> None:
    output = [
        {"type": "message"}, {"type": "function_call"}, {"type": "reasoning"},
        {"type": "web_search_call"}, {"type": "mcp_list_tools"}, {"type": "mcp_call"},
        {"type": "mcp_approval_request"}, {"type": "image_generation_call"},
        {"type": "file_search_call"}, {},
    ]  # fmt: skip
    carried = [i.get("type") for i in items.carried_output(output)]
    assert carried == [
        "message", "function_call", "reasoning", "web_search_call",
        "mcp_list_tools", "mcp_call", "mcp_approval_request",
    ]  # fmt: skip
