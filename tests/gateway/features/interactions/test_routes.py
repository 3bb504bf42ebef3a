"""The stored-interaction route sends each method and part to the state's operation for
that key (retrieve, replay the stream from an event id, delete, cancel) and refuses any
other pairing as an unknown endpoint. The state itself is faked here (its own tests:
``test_state.py``): this is the dispatch."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base.entries import MASTER
from gateway.base.errors import ModelNotFound
from gateway.base.hooks import ApiRequest
from gateway.core.call import Reply
from gateway.features.interactions import routes, state


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    seen: list[tuple[Any, ...]] = []

    def fake(name: str, answer: Any) -> Any:
        async def operation(*args: Any) -> Any:
            seen.append((name, *args))
            return answer

        return operation

    monkeypatch.setattr(state, "retrieve", fake("retrieve", {"id": "int_1"}))
    monkeypatch.setattr(state, "stream", fake("stream", b"event: done\n\n"))
    monkeypatch.setattr(state, "delete", fake("delete", {"deleted": True}))
    monkeypatch.setattr(state, "cancel", fake("cancel", {"status": "cancelled"}))
    return seen


def request(method: str, path: str = "/v1beta/interactions/int_1", **query: str) -> ApiRequest:
    return ApiRequest(method, path, query, MASTER, {})


async def test_get_retrieves_and_delete_deletes(calls: list[tuple[Any, ...]]) -> None:
    assert await routes.stored_interaction(request("GET"), ("int_1", "")) == {"id": "int_1"}
    assert await routes.stored_interaction(request("DELETE"), ("int_1", "")) == {"deleted": True}
    assert calls == [("retrieve", "int_1", MASTER), ("delete", "int_1", MASTER)]


async def test_post_cancel_cancels(calls: list[tuple[Any, ...]]) -> None:
    answer = await routes.stored_interaction(request("POST"), ("int_1", "cancel"))
    assert answer == {"status": "cancelled"} and calls == [("cancel", "int_1", MASTER)]


async def test_stream_true_replays_the_events_as_an_event_stream(
    calls: list[tuple[Any, ...]],
) -> None:
    reply = await routes.stored_interaction(
        request("GET", stream="true", last_event_id="ev_3"), ("int_1", "")
    )
    assert isinstance(reply, Reply)
    assert reply.status == 200 and reply.body == b"event: done\n\n"
    assert reply.headers == [(b"content-type", b"text/event-stream")]
    assert calls == [("stream", "int_1", MASTER, "ev_3")]
    await routes.stored_interaction(request("GET", stream="true", last_event_id=""), ("int_1", ""))
    assert calls[-1] == ("stream", "int_1", MASTER, None)  # an empty id: from the start


async def test_any_other_pairing_is_an_unknown_endpoint(calls: list[tuple[Any, ...]]) -> None:
    for method, what in (("POST", ""), ("GET", "cancel"), ("PUT", ""), ("DELETE", "cancel")):
        with pytest.raises(ModelNotFound) as refused:
            await routes.stored_interaction(request(method), ("int_1", what))
        assert f"no such endpoint: {method} /v1beta/interactions/int_1" in str(refused.value)
    assert calls == []
