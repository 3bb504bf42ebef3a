"""Anthropic's server tools in the Messages API's shapes: the tool definitions read
(and their bad fields named), an earlier turn's search and fetch calls and results read
back as the model read them, and the blocks written when the gateway ran the tools, the
search snippets packed so they come back with the history."""

from __future__ import annotations

import pytest

from gateway.base.errors import InvalidRequest
from gateway.base.types import SearchResult, ServerTool, ServerToolItem, ToolCall
from gateway.codecs.anthropic import web_tools


def test_the_server_tools_the_gateway_knows():
    assert web_tools.parse_tool({"type": "bash_20250124", "name": "bash"}, "tools[0]") is None
    assert web_tools.parse_tool({"type": 3}, "tools[0]") is None
    search = web_tools.parse_tool(
        {"type": "web_search_20250305", "max_uses": 3, "allowed_domains": ["a.test"]}, "tools[1]"
    )
    assert search == ServerTool(
        "web_search", "web_search_20250305", "web_search", 3, ["a.test"], []
    )
    fetch = web_tools.parse_tool({"type": "web_fetch_20250910", "name": "fetch"}, "tools[2]")
    assert (fetch.kind, fetch.name) == ("web_fetch", "fetch")
    assert web_tools.kind_of("code_execution_20250825") == "code_execution"


@pytest.mark.parametrize(
    ("item", "param"),
    [
        ({"name": ""}, "tools[1].name"),
        ({"max_uses": 0}, "tools[1].max_uses"),
        ({"max_uses": True}, "tools[1].max_uses"),
        ({"allowed_domains": "a.test"}, "tools[1].allowed_domains"),
        ({"blocked_domains": [""]}, "tools[1].blocked_domains"),
        ({"allowed_domains": ["a.test"], "blocked_domains": ["b.test"]}, "tools[1]"),
    ],
)
def test_a_bad_field_is_named(item, param):
    with pytest.raises(InvalidRequest) as raised:
        web_tools.parse_tool({"type": "web_search_20250305", **item}, "tools[1]")
    assert raised.value.param == param


def test_an_earlier_call_is_read_back():
    block = {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "q"},
    }
    assert web_tools.history_call(block, "m[1]") == ToolCall(
        "srvtoolu_1", "web_search", {"query": "q"}
    )
    assert web_tools.history_call({**block, "name": "code_execution"}, "m[1]") is None
    for bad, param in [({"id": ""}, "m[1].id"), ({"input": "q"}, "m[1].input")]:
        with pytest.raises(InvalidRequest) as raised:
            web_tools.history_call({**block, **bad}, "m[1]")
        assert raised.value.param == param


def test_search_blocks_round_trip_with_their_snippets():
    item = ServerToolItem(
        "web_search",
        "srvtoolu_1",
        "web_search",
        {"query": "otters"},
        results=[
            SearchResult("https://a.test/otters", "Otters", "Otters hold hands.", "2 days ago")
        ],
    )
    use, result = web_tools.blocks(item)
    assert use == {
        "type": "server_tool_use",
        "id": "srvtoolu_1",
        "name": "web_search",
        "input": {"query": "otters"},
    }
    (found,) = result["content"]
    assert found["encrypted_content"].startswith("swy1:")
    assert web_tools.unpack_snippet(found["encrypted_content"]) == "Otters hold hands."
    read = web_tools.history_result(result, "m[1].content[1]")
    assert read.call_id == "srvtoolu_1" and not read.is_error
    assert (
        "Otters hold hands." in read.content[0].text
        and "https://a.test/otters" in read.content[0].text
    )


@pytest.mark.parametrize("value", [None, 3, "anthropic-own-opaque", "swy1:!!!", "swy1:WzFd"])
def test_a_snippet_not_the_gateways_is_empty(value):
    assert web_tools.unpack_snippet(value) == ""


def test_fetch_blocks_round_trip_and_errors_read_as_errors():
    item = ServerToolItem(
        "web_fetch",
        "srvtoolu_2",
        "web_fetch",
        url="https://a.test/page",
        title="Page",
        text="the page text",
        retrieved_at="2026-11-27T10:00:00Z",
    )
    result = web_tools.result_block(item)
    assert result["content"]["content"]["source"]["data"] == "the page text"
    read = web_tools.history_result(result, "at")
    assert "the page text" in read.content[0].text and not read.is_error
    item.error = "url_not_accessible"
    failed = web_tools.result_block(item)
    assert failed["content"] == {
        "type": "web_fetch_tool_result_error",
        "error_code": "url_not_accessible",
    }
    assert web_tools.history_result(failed, "at").is_error
    searched = ServerToolItem("web_search", "s3", "web_search", error="max_uses_exceeded")
    block = web_tools.result_block(searched)
    assert block["content"]["error_code"] == "max_uses_exceeded"
    odd = web_tools.history_result({**block, "content": "?"}, "at")
    assert odd.is_error and "unavailable" in odd.content[0].text
    with pytest.raises(InvalidRequest) as raised:
        web_tools.history_result({"type": "web_search_tool_result"}, "at")
    assert raised.value.param == "at.tool_use_id"
