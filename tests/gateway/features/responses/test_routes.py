"""The Responses API's stored-object routes: each method and part goes to its operation
for the caller's key; a background response is read from its own row while it runs (and
followed live when streamed), a stored one replayed from ``starting_after``; a delete
takes both the background row and the stored turn; the Conversations API's table of
operations. The operations are faked (their own tests: ``test_state.py``,
``test_background.py``, ``test_conversations.py``): this is the dispatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from gateway.base.entries import MASTER
from gateway.base.errors import ModelNotFound
from gateway.base.hooks import ApiRequest
from gateway.core.call import Reply, StreamReply
from gateway.features.responses import background, conversations, routes, state

STORED = {"id": "resp_1", "object": "response", "status": "completed"}


class Fakes:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.running: dict[str, Any] | None = None  # what background.retrieve answers
        self.background_row = False  # what background.delete answers
        self.stored = True  # whether state has the turn

    def op(self, name: str, answer: Any) -> Any:
        async def operation(*args: Any) -> Any:
            self.calls.append((name, *args))
            return answer() if callable(answer) else answer

        return operation


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> Fakes:
    f = Fakes()

    def stored_or_404() -> Any:
        if not f.stored:
            raise ModelNotFound("no response resp_1", code="not_found")
        return dict(STORED)

    async def follow(*args: Any) -> AsyncIterator[bytes]:
        f.calls.append(("follow", *args))
        yield b"data: live\n\n"

    monkeypatch.setattr(state, "input_items", f.op("input_items", {"data": []}))
    monkeypatch.setattr(state, "retrieve", f.op("retrieve", stored_or_404))
    monkeypatch.setattr(state, "delete", f.op("state.delete", stored_or_404))
    monkeypatch.setattr(
        state, "replay_events", lambda payload, after: f"{payload['id']}>{after}".encode()
    )
    monkeypatch.setattr(background, "cancel", f.op("cancel", {"status": "cancelled"}))
    monkeypatch.setattr(background, "retrieve", f.op("running", lambda: f.running))
    monkeypatch.setattr(background, "delete", f.op("background.delete", lambda: f.background_row))
    monkeypatch.setattr(background, "follow", follow)
    return f


def request(
    method: str, path: str = "/v1/responses/resp_1", body: Any = None, **query: str
) -> ApiRequest:
    return ApiRequest(method, path, query, MASTER, body or {})


async def test_input_items_and_cancel(fakes: Fakes) -> None:
    items = await routes.stored_response(request("GET", limit="2"), ("resp_1", "input_items"))
    cancelled = await routes.stored_response(request("POST"), ("resp_1", "cancel"))
    assert items == {"data": []} and cancelled == {"status": "cancelled"}
    assert fakes.calls == [
        ("input_items", "resp_1", MASTER, {"limit": "2"}),
        ("cancel", "resp_1", MASTER),
    ]


async def test_a_stored_response_is_read_and_replayed_from_starting_after(fakes: Fakes) -> None:
    assert await routes.stored_response(request("GET"), ("resp_1", "")) == STORED
    replay = await routes.stored_response(
        request("GET", stream="true", starting_after="4"), ("resp_1", "")
    )
    assert isinstance(replay, Reply) and replay.status == 200 and replay.body == b"resp_1>4"
    assert replay.headers == routes.EVENT_STREAM
    odd = await routes.stored_response(
        request("GET", stream="true", starting_after="x"), ("resp_1", "")
    )
    assert odd.body == b"resp_1>None"  # not a number: from the start


async def test_a_running_background_response_is_its_row_or_followed_live(fakes: Fakes) -> None:
    fakes.running = {"id": "resp_1", "status": "in_progress"}
    assert await routes.stored_response(request("GET"), ("resp_1", "")) == fakes.running
    live = await routes.stored_response(
        request("GET", stream="true", starting_after="2"), ("resp_1", "")
    )
    assert isinstance(live, StreamReply) and live.headers == routes.EVENT_STREAM
    assert [chunk async for chunk in live.chunks] == [b"data: live\n\n"]
    assert ("follow", "resp_1", MASTER, 2) in fakes.calls
    assert not any(call[0] == "retrieve" for call in fakes.calls)  # the stored turn unread


async def test_delete_takes_the_stored_turn_when_there_is_no_background_row(fakes: Fakes) -> None:
    assert await routes.stored_response(request("DELETE"), ("resp_1", "")) == STORED
    fakes.stored = False
    with pytest.raises(ModelNotFound):  # neither: the unknown id's 404
        await routes.stored_response(request("DELETE"), ("resp_1", ""))


async def test_delete_of_a_background_response_takes_its_turn_too_if_it_ran(fakes: Fakes) -> None:
    fakes.background_row = True
    deleted = {"id": "resp_1", "object": "response", "deleted": True}
    assert await routes.stored_response(request("DELETE"), ("resp_1", "")) == deleted
    assert ("state.delete", "resp_1", MASTER) in fakes.calls
    fakes.stored = False  # it never ran: no stored turn, still deleted
    assert await routes.stored_response(request("DELETE"), ("resp_1", "")) == deleted


async def test_other_pairings_are_an_unknown_url(fakes: Fakes) -> None:
    for method, what in (("POST", ""), ("GET", "cancel"), ("DELETE", "input_items"), ("GET", "x")):
        with pytest.raises(ModelNotFound) as refused:
            await routes.stored_response(request(method), ("resp_1", what))
        assert refused.value.code == "unknown_url"
    assert fakes.calls == []


CONVERSATION_CASES = [
    ("POST", ("", "", ""), "create", (MASTER, {"items": []})),
    ("GET", ("conv_1", "", ""), "retrieve", ("conv_1", MASTER)),
    ("POST", ("conv_1", "", ""), "update", ("conv_1", MASTER, {"items": []})),
    ("DELETE", ("conv_1", "", ""), "delete", ("conv_1", MASTER)),
    ("GET", ("conv_1", "items", ""), "list_items", ("conv_1", MASTER, {"order": "asc"})),
    ("POST", ("conv_1", "items", ""), "add_items", ("conv_1", MASTER, {"items": []})),
    ("GET", ("conv_1", "items", "msg_1"), "get_item", ("conv_1", "msg_1", MASTER)),
    ("DELETE", ("conv_1", "items", "msg_1"), "delete_item", ("conv_1", "msg_1", MASTER)),
]


@pytest.mark.parametrize(("method", "found", "name", "args"), CONVERSATION_CASES)
async def test_each_conversation_operation_gets_its_arguments(
    monkeypatch: pytest.MonkeyPatch, method: str, found: Any, name: str, args: tuple[Any, ...]
) -> None:
    seen: list[tuple[Any, ...]] = []
    for _, _, other, _ in CONVERSATION_CASES:
        monkeypatch.setattr(conversations, other, lambda *a, n=other: seen.append((n, *a)) or n)
    answer = await routes.conversation(
        request(method, "/v1/conversations", {"items": []}, order="asc"), found
    )
    assert answer == name and seen == [(name, *args)]


@pytest.mark.parametrize(
    ("method", "found"),
    [
        ("GET", ("", "", "")),  # no list of conversations
        ("DELETE", ("", "", "")),
        ("POST", ("conv_1", "items", "msg_1")),
        ("PUT", ("conv_1", "", "")),
    ],
)
async def test_other_conversation_requests_are_an_unknown_url(method: str, found: Any) -> None:
    with pytest.raises(ModelNotFound) as refused:
        await routes.conversation(request(method, "/v1/conversations"), found)
    assert refused.value.code == "unknown_url"
