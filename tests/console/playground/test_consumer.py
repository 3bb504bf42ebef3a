"""The playground WebSocket: columns stream at once through the service, stop and
disconnect close the upstream streams, one failing column leaves the others alone,
follow-ups carry each column's own history, blind runs name nobody, staff only."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest
from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator

from console.models import Comparison
from console.playground.consumer import PlaygroundConsumer
from console.routing import websocket_urlpatterns
from gateway.base import http

from ..playground_support import (
    JournalRecorder,
    SlowUpstream,
    make_echo_routes,
    make_slow_openai_route,
    make_user,
    slow_transport,
)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def staff(transactional_db):
    return make_user("alice", staff=True)


@pytest.fixture
def slow_route(transactional_db) -> None:
    make_slow_openai_route("slow")
    http.use_transport(slow_transport())
    SlowUpstream.instances.clear()


@pytest.fixture
def echo_routes(transactional_db) -> None:
    make_echo_routes(
        {
            "steady": {"delay": 0.02},
            "steady-2": {"delay": 0.02},
            "broken": {"fail_status": 500},
        }
    )


async def connect(user) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(PlaygroundConsumer.as_asgi(), "/ws/playground/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


def spec(*columns: tuple[str, str], prompt: str = "hello there friend", **extra) -> dict:
    return {
        "system": "Be brief.",
        "messages": [{"role": "user", "content": prompt}],
        "params": {"max_tokens": 200},
        "columns": [{"route": r, "dialect": d, "params": {}} for r, d in columns],
        **extra,
    }


async def collect(communicator: WebsocketCommunicator, until: str = "turn_done") -> list[dict]:
    messages = []
    while True:
        message = await communicator.receive_json_from(timeout=10)
        messages.append(message)
        if message["type"] in (until, "error"):
            return messages


async def test_every_column_streams_at_once_through_the_service(
    recorder: JournalRecorder, staff, echo_routes
) -> None:
    ws = await connect(staff)
    columns = [("steady", "openai"), ("steady-2", "anthropic"), ("steady", "anthropic")]
    await ws.send_json_to({"action": "run", "spec": spec(*columns)})
    messages = await collect(ws)
    await ws.disconnect()

    head = messages[0]
    assert head["type"] == "comparison" and head["turn"] == 0
    assert [(c["route"], c["dialect"]) for c in head["columns"]] == columns

    # Before any column finished, some tick had already shown text in all three.
    grown = {0: "", 1: "", 2: ""}
    concurrent = False
    for message in messages:
        if message["type"] == "column_done":
            break
        if message["type"] == "tick":
            for column in message["columns"]:
                grown[column["index"]] += column["text"]
            concurrent = concurrent or all(grown.values())
    assert concurrent, "the columns did not stream at the same time"

    done = {m["index"]: m for m in messages if m["type"] == "column_done"}
    assert sorted(done) == [0, 1, 2]
    for column in done.values():
        assert column["state"] == "done"
        assert column["text"] == "Echo: hello there friend"
        metrics = column["metrics"]
        assert metrics["ttft_ms"] > 0 and metrics["total_ms"] >= metrics["ttft_ms"]
        assert metrics["output_tokens"] == 4 and metrics["input_tokens"] > 0
        assert metrics["tokens_per_sec"] > 0
        expected = (Decimal(metrics["input_tokens"]) * 1 + Decimal(4) * 2) / 1_000_000
        assert Decimal(metrics["cost_usd"]) == expected
        assert column["request_id"] and column["deployment"].startswith("echo/")

    assert len(recorder.records) == 3
    assert all(r.from_playground and r.status == 200 for r in recorder.records)
    assert {r.key_name for r in recorder.records} == {"console:alice"}
    assert {r.dialect for r in recorder.records} == {"openai", "anthropic"}

    saved = await Comparison.objects.aget(pk=head["id"])
    assert [r["text"] for r in saved.results[0]] == ["Echo: hello there friend"] * 3
    # Anthropic body, written by its codec
    assert saved.results[0][1]["request"]["system"] == [{"type": "text", "text": "Be brief."}]
    assert "message_start" in saved.results[0][1]["transcript"]
    assert saved.results[0][0]["request"]["stream_options"] == {"include_usage": True}


async def stream_until_text(ws: WebsocketCommunicator) -> None:
    while True:
        message = await ws.receive_json_from(timeout=10)
        if message["type"] == "tick" and all(c["text"] for c in message["columns"]):
            return


async def test_stop_cancels_every_column_and_closes_the_upstream_streams(
    recorder: JournalRecorder, staff, slow_route
) -> None:
    ws = await connect(staff)
    await ws.send_json_to(
        {"action": "run", "spec": spec(("slow", "openai"), ("slow", "anthropic"))}
    )
    await stream_until_text(ws)
    await ws.send_json_to({"action": "stop"})
    messages = await collect(ws)
    await ws.disconnect()

    done = [m for m in messages if m["type"] == "column_done"]
    assert {m["state"] for m in done} == {"stopped"}
    assert len(SlowUpstream.instances) == 2
    for upstream in SlowUpstream.instances:
        await asyncio.wait_for(upstream.closed.wait(), 2)
    assert len(recorder.records) == 2
    assert all(r.status == 499 and r.client_disconnected for r in recorder.records)


async def test_closing_the_socket_closes_the_upstream_streams(
    recorder: JournalRecorder, staff, slow_route
) -> None:
    ws = await connect(staff)
    await ws.send_json_to({"action": "run", "spec": spec(("slow", "openai"), ("slow", "openai"))})
    await stream_until_text(ws)
    await ws.disconnect()
    for upstream in SlowUpstream.instances:
        await asyncio.wait_for(upstream.closed.wait(), 2)
    sent = [u.sent for u in SlowUpstream.instances]
    await asyncio.sleep(0.2)
    assert [u.sent for u in SlowUpstream.instances] == sent  # nothing read any more


async def test_a_failing_column_does_not_stop_the_others(
    recorder: JournalRecorder, staff, echo_routes
) -> None:
    ws = await connect(staff)
    columns = [("steady", "openai"), ("broken", "openai"), ("steady-2", "anthropic")]
    await ws.send_json_to({"action": "run", "spec": spec(*columns)})
    messages = await collect(ws)
    await ws.disconnect()
    done = {m["index"]: m for m in messages if m["type"] == "column_done"}
    assert done[1]["state"] == "error"
    assert "500" in done[1]["error"]
    assert done[1]["metrics"]["status"] >= 500
    assert done[0]["state"] == done[2]["state"] == "done"
    assert done[0]["text"] == done[2]["text"] == "Echo: hello there friend"
    statuses = sorted(r.status for r in recorder.records)
    assert statuses[:2] == [200, 200] and statuses[2] >= 500


async def test_a_follow_up_goes_to_every_column_with_its_own_history(
    recorder: JournalRecorder, staff, echo_routes
) -> None:
    ws = await connect(staff)
    await ws.send_json_to(
        {"action": "run", "spec": spec(("steady", "openai"), ("steady-2", "anthropic"))}
    )
    first = await collect(ws)
    comparison_id = first[0]["id"]
    await ws.send_json_to(
        {"action": "continue", "comparison": comparison_id, "message": "and now?"}
    )
    second = await collect(ws)
    await ws.disconnect()

    assert second[0]["type"] == "comparison" and second[0]["turn"] == 1
    assert second[0]["user_message"] == "and now?"
    done = [m for m in second if m["type"] == "column_done"]
    assert {m["text"] for m in done} == {"Echo: and now?"}
    saved = await Comparison.objects.aget(pk=comparison_id)
    assert saved.followups == ["and now?"]
    assert len(saved.results) == 2
    sent = saved.results[1][1]["request"]["messages"]  # the Anthropic column's
    assert sent == [
        {"role": "user", "content": [{"type": "text", "text": "hello there friend"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "Echo: hello there friend"}]},
        {"role": "user", "content": [{"type": "text", "text": "and now?"}]},
    ]


async def test_blind_runs_do_not_say_which_route_is_which(
    recorder: JournalRecorder, staff, echo_routes
) -> None:
    ws = await connect(staff)
    await ws.send_json_to(
        {"action": "run", "spec": spec(("steady", "openai"), ("steady-2", "openai"), blind=True)}
    )
    messages = await collect(ws)
    await ws.disconnect()
    assert messages[0]["blind"] is True
    assert [c["label"] for c in messages[0]["columns"]] == ["A", "B"]
    assert all("route" not in c for c in messages[0]["columns"])
    ticks = [c for m in messages if m["type"] == "tick" for c in m["columns"]]
    assert ticks and all("deployment" not in column for column in ticks)
    done = [m for m in messages if m["type"] == "column_done"]
    assert all("deployment" not in m and "request_id" not in m for m in done)
    # Timings, token counts and cost would tell the models apart: none until the vote.
    assert all(column["metrics"] == {} for column in [*ticks, *done])
    saved = await Comparison.objects.aget(pk=messages[0]["id"])
    assert sorted(c["route"] for c in saved.columns) == ["steady", "steady-2"]
    # Kept for the reveal.
    assert all(r["metrics"]["total_ms"] is not None for r in saved.results[0])


async def test_invalid_runs_are_answered_with_an_error(
    recorder: JournalRecorder, staff, echo_routes
) -> None:
    ws = await connect(staff)
    await ws.send_json_to({"action": "run", "spec": spec(("steady", "openai"))})
    assert (await ws.receive_json_from())["message"] == "pick 2 to 6 columns"
    await ws.send_json_to({"action": "run", "spec": spec(("steady", "openai"), ("nope", "openai"))})
    assert "unknown route 'nope'" in (await ws.receive_json_from())["message"]
    await ws.disconnect()
    assert recorder.records == []


@pytest.mark.parametrize("who", ["anonymous", "not-staff"])
async def test_only_staff_may_open_the_socket(who: str, transactional_db) -> None:
    app = AuthMiddlewareStack(URLRouter(websocket_urlpatterns))
    communicator = WebsocketCommunicator(app, "/ws/playground/")
    if who == "not-staff":
        from django.contrib.auth import get_user_model

        user = await get_user_model().objects.acreate(username="bob", is_staff=False)
        app = PlaygroundConsumer.as_asgi()
        communicator = WebsocketCommunicator(app, "/ws/playground/")
        communicator.scope["user"] = user
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403


async def test_tool_definitions_reach_every_column_and_calls_come_back(
    recorder: JournalRecorder, staff, echo_routes
) -> None:
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {
                    "type": "object",
                    "properties": {"city": {"type": "string", "enum": ["Paris"]}},
                    "required": ["city"],
                },
            },
        }
    ]
    ws = await connect(staff)
    run = spec(("steady", "openai"), ("steady-2", "anthropic"), prompt="use the get_weather tool")
    await ws.send_json_to({"action": "run", "spec": {**run, "tools": tools}})
    messages = await collect(ws)
    await ws.disconnect()
    done = [m for m in messages if m["type"] == "column_done"]
    assert len(done) == 2
    for column in done:
        assert [c["name"] for c in column["tool_calls"]] == ["get_weather"]
        assert column["tool_calls"][0]["arguments"] == '{"city":"Paris"}'
        assert column["metrics"]["finish_reason"] in ("tool_calls", "tool_use")
