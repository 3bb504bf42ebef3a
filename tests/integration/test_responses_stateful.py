"""The stateful Responses API end to end: a real server with TWO workers (so a chained
turn may land on the other worker), the official ``openai`` SDK and the
``openai-agents`` SDK, routes on a mock OpenAI-compatible and a mock Anthropic upstream.

Covered: store + retrieve + input items + delete, a tool loop chained only by
``previous_response_id`` (streamed and not), reasoning carried across turns with its
signature, the new ``instructions`` replacing the old, ``store: false``, per-key
isolation, WebSocket mode (``client.responses.connect()``) sharing the same state.
Each client is new per call, so calls go out on new connections over both workers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from agents import Agent, Runner, function_tool, set_tracing_disabled
from agents.models.openai_responses import OpenAIResponsesModel

from tests.live import MASTER_KEY, free_port, running_gateway

from .conftest import Stack, setup_code
from .mock_upstream import MockUpstream, Reply, ToolUse

set_tracing_disabled(True)

ALICE_KEY = "sy-alice-0123456789abcdefghijklmnop"
BOB_KEY = "sy-bob-0123456789abcdefghijklmnopqr"
KEYS_SETUP = f"""
from gateway.models import ApiKey
for name, raw in (("alice", "{ALICE_KEY}"), ("bob", "{BOB_KEY}")):
    ApiKey.objects.create(name=name, prefix=raw[:10], key_hash=ApiKey.hash_key(raw))
"""
WEATHER_TOOL = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
ROUTES = ["mock-gpt", "mock-claude"]
MAX_BODY = 1_000_000


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockUpstream().start()
    dead = f"http://127.0.0.1:{free_port()}"
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            setup=[
                ["shell", "-c", setup_code(mock.url, dead)],
                ["shell", "-c", KEYS_SETUP],
            ],
            env={"SWITCHYARD_MAX_BODY_BYTES": str(MAX_BODY)},
            workers=2,
        ) as gw:
            yield Stack(gw=gw, mock=mock, key=ALICE_KEY)
    finally:
        mock.stop()


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockUpstream]:
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


def client(stack: Stack, key: str = ALICE_KEY) -> openai.OpenAI:
    return stack.openai(key=key)


def upstream_turns(route: str, body: dict[str, Any]) -> list[tuple[str, list[str]]]:
    """(role, part kinds) of the conversation the upstream received, system aside."""
    if route == "mock-gpt":
        turns = []
        for m in body["messages"]:
            kinds = []
            if isinstance(m.get("content"), str) and m["content"]:
                kinds.append("text")
            kinds += ["tool_call"] * len(m.get("tool_calls") or [])
            turns.append((m["role"], kinds))
        return [t for t in turns if t[0] not in ("system", "developer")]
    return [
        (
            m["role"],
            [b["type"] for b in m["content"]] if isinstance(m["content"], list) else ["text"],
        )
        for m in body["messages"]
    ]


def system_of(route: str, body: dict[str, Any]) -> str:
    if route == "mock-gpt":
        return " ".join(
            m["content"] for m in body["messages"] if m["role"] in ("system", "developer")
        )
    system = body.get("system") or ""
    return system if isinstance(system, str) else " ".join(b["text"] for b in system)


# --- store, retrieve, input items, delete -----------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
def test_store_retrieve_input_items_and_delete(stack: Stack, mock: MockUpstream, route: str):
    mock.queue(Reply(text="Stored answer."))
    created = client(stack).responses.create(
        model=route, input="Remember this", metadata={"a": "b"}
    )
    assert created.store is True and created.output_text == "Stored answer."

    fetched = client(stack).responses.retrieve(created.id)  # maybe on the other worker
    assert fetched.id == created.id and fetched.output_text == "Stored answer."
    assert fetched.model == route and fetched.usage.output_tokens == 7
    assert fetched.metadata == {"a": "b"}

    replay = list(client(stack).responses.retrieve(created.id, stream=True))
    assert [e.type for e in replay] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.output_item.done",
        "response.completed",
    ]
    assert replay[-1].response.output_text == "Stored answer."
    assert [e.sequence_number for e in replay] == list(range(5))
    tail = list(client(stack).responses.retrieve(created.id, stream=True, starting_after=2))
    assert [e.sequence_number for e in tail] == [3, 4]

    items = client(stack).responses.input_items.list(created.id)
    [item] = items.data
    assert item.type == "message" and item.role == "user" and item.id
    assert item.content[0].type == "input_text" and item.content[0].text == "Remember this"

    deleted = client(stack).responses.delete(created.id)
    assert deleted is None  # the SDK returns nothing on success
    with pytest.raises(openai.NotFoundError) as caught:
        client(stack).responses.retrieve(created.id)
    assert created.id in caught.value.message
    with pytest.raises(openai.NotFoundError):
        client(stack).responses.delete(created.id)


def test_input_items_page_through_the_sdk_cursor(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="ok"))
    inputs = [{"role": "user", "content": f"line {n}"} for n in range(5)]
    created = client(stack).responses.create(model="mock-gpt", input=inputs)
    page = client(stack).responses.input_items.list(created.id, limit=2, order="asc")
    assert [i.content[0].text for i in page.data] == ["line 0", "line 1"] and page.has_more
    every = [i.content[0].text for i in page]  # auto-pagination follows the cursor
    assert every == [f"line {n}" for n in range(5)]


def test_a_streamed_response_is_stored_in_its_completed_form(
    stack: Stack, mock: MockUpstream
) -> None:
    mock.queue(Reply(text="Streamed and stored.", piece=4))
    with client(stack).responses.stream(model="mock-claude", input="hi") as stream:
        final = stream.get_final_response()
    fetched = client(stack).responses.retrieve(final.id)
    assert fetched.status == "completed" and fetched.output_text == "Streamed and stored."
    assert [i.id for i in fetched.output] == [i.id for i in final.output]  # the same items
    assert fetched.usage == final.usage and fetched.created_at == final.created_at


# --- chaining ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
@pytest.mark.parametrize("route", ROUTES)
def test_a_tool_loop_chained_only_by_previous_response_id(
    stack: Stack, mock: MockUpstream, route: str, stream: bool
) -> None:
    mock.queue(
        Reply(
            reasoning="I should check the weather.",
            signature="sig-turn-1",
            tool_calls=[ToolUse("call_w1", "get_weather", '{"city": "Paris"}')],
        ),
        Reply(text="It is sunny in Paris."),
    )

    def create(**body: Any) -> Any:
        if not stream:
            return client(stack).responses.create(model=route, tools=[WEATHER_TOOL], **body)
        with client(stack).responses.stream(model=route, tools=[WEATHER_TOOL], **body) as s:
            return s.get_final_response()

    first = create(input="Weather in Paris?", instructions="Old instructions.")
    call = next(item for item in first.output if item.type == "function_call")
    assert call.call_id == "call_w1" and call.name == "get_weather"

    second = create(
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "sunny"}],
        previous_response_id=first.id,
        instructions="New instructions.",
    )
    assert second.output_text == "It is sunny in Paris."
    assert second.previous_response_id == first.id

    sent = mock.chat_requests()[-1].body
    assert "New instructions." in system_of(route, sent)
    assert "Old instructions." not in system_of(route, sent)  # replaced, as OpenAI does
    if route == "mock-gpt":
        assert upstream_turns(route, sent) == [
            ("user", ["text"]),
            ("assistant", ["tool_call"]),
            ("tool", ["text"]),
        ]
        tool_message = sent["messages"][-1]
        assert (tool_message["tool_call_id"], tool_message["content"]) == ("call_w1", "sunny")
    else:
        assert upstream_turns(route, sent) == [
            ("user", ["text"]),
            ("assistant", ["thinking", "tool_use"]),
            ("user", ["tool_result"]),
        ]
        thinking, tool_use = sent["messages"][1]["content"]
        assert thinking["signature"] == "sig-turn-1"  # signed thinking carried by the store
        assert thinking["thinking"] == "I should check the weather."
        assert tool_use["id"] == "call_w1" and tool_use["input"] == {"city": "Paris"}
        assert sent["messages"][2]["content"][0]["tool_use_id"] == "call_w1"

    # a third turn continues the whole chain, in order
    mock.queue(Reply(text="You are welcome."))
    third = create(input="Thanks!", previous_response_id=second.id)
    assert third.output_text == "You are welcome."
    turns = upstream_turns(route, mock.chat_requests()[-1].body)
    assert turns[-2:] == [("assistant", ["text"]), ("user", ["text"])]
    assert len(turns) == 5


def test_store_false_is_not_retrievable_nor_chainable(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Forget me."))
    created = client(stack).responses.create(model="mock-gpt", input="hi", store=False)
    assert created.store is False and created.output_text == "Forget me."
    with pytest.raises(openai.NotFoundError):
        client(stack).responses.retrieve(created.id)
    with pytest.raises(openai.BadRequestError) as caught:
        client(stack).responses.create(
            model="mock-gpt", input="again", previous_response_id=created.id
        )
    assert caught.value.body["param"] == "previous_response_id"
    assert caught.value.body["code"] == "previous_response_not_found"
    assert len(mock.chat_requests()) == 1  # the refused turn never went upstream


def test_a_response_is_visible_only_to_its_key(stack: Stack, mock: MockUpstream) -> None:
    mock.queue(Reply(text="Alice's secret."))
    mine = client(stack, ALICE_KEY).responses.create(model="mock-claude", input="hi")
    for key in (BOB_KEY, MASTER_KEY):
        other = client(stack, key)
        with pytest.raises(openai.NotFoundError):
            other.responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.input_items.list(mine.id)
        with pytest.raises(openai.NotFoundError):
            other.responses.delete(mine.id)
        with pytest.raises(openai.BadRequestError):  # previous_response_not_found
            other.responses.create(model="mock-claude", input="x", previous_response_id=mine.id)
    assert client(stack, ALICE_KEY).responses.retrieve(mine.id).output_text == "Alice's secret."
    with pytest.raises(openai.AuthenticationError):
        client(stack, "sy-not-a-key").responses.retrieve(mine.id)


# --- WebSocket mode ---------------------------------------------------------------------


def _until_done(connection: Any) -> list[Any]:
    events = []
    for event in connection:
        events.append(event)
        if event.type in ("response.completed", "response.failed", "error"):
            return events
    raise AssertionError("the socket closed before the response completed")


@pytest.mark.parametrize("route", ROUTES)
def test_websocket_mode_chains_and_shares_the_http_state(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    mock.queue(
        Reply(tool_calls=[ToolUse("call_ws", "get_weather", '{"city": "Oslo"}')]),
        Reply(text="Cold in Oslo."),
    )
    sdk = client(stack)
    with sdk.responses.connect() as connection:
        connection.response.create(model=route, input="Weather in Oslo?", tools=[WEATHER_TOOL])
        first_events = _until_done(connection)
        kinds = [e.type for e in first_events]
        assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
        assert "response.function_call_arguments.delta" in kinds
        first = first_events[-1].response
        call = next(item for item in first.output if item.type == "function_call")

        connection.response.create(
            model=route,
            tools=[WEATHER_TOOL],
            previous_response_id=first.id,
            input=[{"type": "function_call_output", "call_id": call.call_id, "output": "-5C"}],
        )
        second = _until_done(connection)[-1].response
        assert second.output_text == "Cold in Oslo." and second.previous_response_id == first.id

        # an unknown id: an error event, and the socket stays usable
        connection.response.create(model=route, input="x", previous_response_id="resp_nope")
        [error] = _until_done(connection)
        assert error.type == "error" and error.status == 400
        assert error.error.param == "previous_response_id"
        assert error.error.code == "previous_response_not_found"

    fetched = client(stack).responses.retrieve(second.id)  # stored like any response
    assert fetched.output_text == "Cold in Oslo."
    turns = upstream_turns(route, mock.chat_requests()[-1].body)
    assert turns[0] == ("user", ["text"]) and len(turns) == 3


def test_websocket_mode_refuses_a_bad_key_at_the_handshake(stack: Stack) -> None:
    sdk = client(stack, "sy-wrong")
    with (
        pytest.raises(Exception) as caught,  # noqa: PT011 - the websockets library's error
        sdk.responses.connect() as connection,
    ):
        connection.response.create(model="mock-gpt", input="hi")
        _until_done(connection)
    assert "401" in str(caught.value)


def _raw_socket(stack: Stack, key: str = ALICE_KEY):  # type: ignore[no-untyped-def]
    from websockets.sync.client import connect

    url = stack.url.replace("http://", "ws://") + "/v1/responses"
    return connect(url, additional_headers={"Authorization": f"Bearer {key}"})


def _events_until_done(socket: Any) -> list[dict[str, Any]]:
    events = []
    while True:
        event = json.loads(socket.recv(timeout=20))
        events.append(event)
        if event["type"] in ("response.completed", "response.failed", "error"):
            return events


def test_websocket_generate_false_stores_without_calling_the_upstream(
    stack: Stack, mock: MockUpstream
) -> None:
    """Codex warms up with ``generate: false``; the id then continues the chain."""
    mock.queue(Reply(text="Warm answer."))
    with _raw_socket(stack) as socket:
        socket.send(
            json.dumps(
                {
                    "type": "response.create",
                    "model": "mock-claude",
                    "input": "Context to keep.",
                    "generate": False,
                    "stream_id": "lane-1",
                }
            )
        )
        created, completed = _events_until_done(socket)
        assert (created["type"], completed["type"]) == ("response.created", "response.completed")
        assert completed["response"]["output"] == [] and completed["stream_id"] == "lane-1"
        assert mock.chat_requests() == []  # nothing went upstream
        warm_id = completed["response"]["id"]

        socket.send(
            json.dumps(
                {
                    "type": "response.create",
                    "model": "mock-claude",
                    "input": "Now answer.",
                    "previous_response_id": warm_id,
                    "stream_id": "lane-1",
                }
            )
        )
        events = _events_until_done(socket)
    assert all(e["stream_id"] == "lane-1" for e in events)
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == "Warm answer."
    sent = mock.last.body["messages"]
    texts = [block["text"] for m in sent for block in m["content"]]
    assert texts == ["Context to keep.", "Now answer."]  # the warm-up input came first


@pytest.mark.parametrize("route", ROUTES)
def test_websocket_chains_store_false_responses_on_the_same_socket_only(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    """Codex sends ``store: false`` and chains by ``previous_response_id`` over its
    socket: the socket remembers its latest responses; nothing reaches the database."""
    mock.queue(
        Reply(tool_calls=[ToolUse("call_mem", "get_weather", '{"city": "Rome"}')]),
        Reply(text="Warm in Rome."),
    )

    def create(socket: Any, **body: Any) -> list[dict[str, Any]]:
        event = {"type": "response.create", "model": route, "store": False, **body}
        socket.send(json.dumps({**event, "tools": [WEATHER_TOOL]}))
        return _events_until_done(socket)

    with _raw_socket(stack) as socket:
        first = create(socket, input="Weather in Rome?")[-1]["response"]
        assert first["store"] is False
        second = create(
            socket,
            previous_response_id=first["id"],
            input=[{"type": "function_call_output", "call_id": "call_mem", "output": "25C"}],
        )[-1]["response"]
        assert second["output"][0]["content"][0]["text"] == "Warm in Rome."
    turns = upstream_turns(route, mock.chat_requests()[-1].body)
    assert turns[0] == ("user", ["text"]) and len(turns) == 3  # the chain from memory
    with pytest.raises(openai.NotFoundError):
        client(stack).responses.retrieve(second["id"])  # never stored
    with _raw_socket(stack) as other:  # another socket does not know it
        [error] = create(other, previous_response_id=second["id"], input="more")
    assert error["type"] == "error" and error["status"] == 400
    assert error["error"]["code"] == "previous_response_not_found"


@pytest.mark.parametrize("route", ROUTES)
def test_a_codex_shaped_socket_session(stack: Stack, mock: MockUpstream, route: str) -> None:
    """What Codex sends over its socket: store false, encrypted reasoning asked for,
    a prompt cache key and verbosity (dropped by drop_params, the default), a warm-up
    with generate false, then turns chained by previous_response_id."""
    mock.queue(
        Reply(
            reasoning="Listing files.",
            signature="sig-codex",
            tool_calls=[ToolUse("call_sh", "shell", '{"command": ["ls"]}')],
        ),
        Reply(text="Two files."),
    )
    shell = {
        "type": "function",
        "name": "shell",
        "parameters": {"type": "object", "properties": {"command": {"type": "array"}}},
        "strict": False,
    }
    common = {
        "type": "response.create",
        "model": route,
        "instructions": "You are Codex.",
        "tools": [shell],
        "tool_choice": "auto",
        "parallel_tool_calls": False,
        "reasoning": {"effort": "medium", "summary": "auto"},
        "store": False,
        "include": ["reasoning.encrypted_content"],
        "prompt_cache_key": "session-1",
        "text": {"verbosity": "medium"},
    }
    with _raw_socket(stack) as socket:
        socket.send(json.dumps({**common, "input": [], "generate": False}))
        warm = _events_until_done(socket)[-1]["response"]
        user = {
            "type": "message",
            "role": "user",
            "content": [{"type": "input_text", "text": "ls"}],
        }
        socket.send(json.dumps({**common, "previous_response_id": warm["id"], "input": [user]}))
        first = _events_until_done(socket)[-1]["response"]
        assert first["status"] == "completed", first
        reasoning, call = first["output"][0], first["output"][1]
        assert reasoning["summary"][0]["text"] == "Listing files." and call["name"] == "shell"
        if route == "mock-claude":  # the thinking signature rides in encrypted_content
            assert reasoning["encrypted_content"] == "sig-codex"
        output = {"type": "function_call_output", "call_id": call["call_id"], "output": "a b"}
        socket.send(json.dumps({**common, "previous_response_id": first["id"], "input": [output]}))
        second = _events_until_done(socket)[-1]["response"]
    assert second["output"][-1]["content"][0]["text"] == "Two files."
    turns = upstream_turns(route, mock.chat_requests()[-1].body)
    assert len(turns) == 3 and turns[0] == ("user", ["text"])
    assert "You are Codex." in system_of(route, mock.chat_requests()[-1].body)


def test_websocket_bad_events_get_error_events_and_the_socket_stays(
    stack: Stack, mock: MockUpstream
) -> None:
    mock.queue(Reply(text="Still here."))
    with _raw_socket(stack) as socket:
        socket.send("{not json")
        [error] = _events_until_done(socket)
        assert error["status"] == 400 and "not valid JSON" in error["error"]["message"]
        socket.send(json.dumps({"type": "session.update"}))
        [error] = _events_until_done(socket)
        assert error["status"] == 400 and error["error"]["param"] == "type"
        socket.send(json.dumps({"type": "response.create", "model": "no-such-route", "input": "x"}))
        [error] = _events_until_done(socket)
        assert error["status"] == 404 and error["error"]["param"] == "model"
        big = {"type": "response.create", "input": "é" * 550_000}  # 1.1 MB, 550k characters
        socket.send(json.dumps(big, ensure_ascii=False))
        [error] = _events_until_done(socket)
        assert error["status"] == 413  # SWITCHYARD_MAX_BODY_BYTES, counted in bytes
        socket.send(json.dumps({"type": "response.create", "model": "mock-gpt", "input": "hi"}))
        events = _events_until_done(socket)
    assert events[-1]["type"] == "response.completed"
    assert [e["sequence_number"] for e in events] == list(range(len(events)))


# --- the openai-agents SDK ------------------------------------------------------------------


@pytest.mark.parametrize("route", ROUTES)
async def test_agents_sdk_tool_loop_chained_by_previous_response_id(
    stack: Stack, mock: MockUpstream, route: str
) -> None:
    mock.queue(
        Reply(tool_calls=[ToolUse("call_ag", "lookup_capital", '{"country": "Peru"}')]),
        Reply(text="The capital of Peru is Lima."),
    )

    @function_tool
    def lookup_capital(country: str) -> str:
        """The capital of a country."""
        return "Lima"

    from openai import AsyncOpenAI

    sdk = AsyncOpenAI(base_url=stack.url + "/v1", api_key=ALICE_KEY, max_retries=0)
    agent = Agent(
        name="geo",
        instructions="Answer with the tool.",
        tools=[lookup_capital],
        model=OpenAIResponsesModel(model=route, openai_client=sdk),
    )
    result = await Runner.run(agent, "Capital of Peru?", auto_previous_response_id=True)
    assert result.final_output == "The capital of Peru is Lima."
    second = mock.chat_requests()[-1].body
    turns = upstream_turns(route, second)
    assert len(turns) == 3  # question, tool call, tool result: rebuilt from the store
    last = result.last_response_id
    assert (await sdk.responses.retrieve(last)).previous_response_id is not None


def test_socket_requests_are_journaled_and_the_log_is_clean(stack: Stack) -> None:
    """Runs last: the WebSocket test's refused turn (unknown previous_response_id) is in
    the journal like any request, and no worker logged a traceback."""
    import time

    code = (
        "from gateway.models import RequestLog; "
        "print(RequestLog.objects.filter(dialect='responses', status=400, "
        "error_message__contains='resp_nope').count())"
    )

    def count() -> str:
        return stack.gw.shell(code).strip().splitlines()[-1]

    deadline = time.monotonic() + 10
    while count() == "0" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert count() == "2"  # one per route
    stack.assert_clean_log()


def test_stored_response_paths_answer_in_the_openai_envelope(stack: Stack) -> None:
    import httpx

    auth = {"authorization": f"Bearer {ALICE_KEY}"}
    missing = httpx.get(stack.url + "/v1/responses/resp_nope")
    assert missing.status_code == 401 and missing.json()["error"]["type"] == "invalid_api_key"
    unknown = httpx.get(stack.url + "/v1/responses/resp_nope/cancel", headers=auth)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "unknown_url"
    for prefix in ("/v1", "", "/openai/v1"):
        gone = httpx.delete(stack.url + prefix + "/responses/resp_nope", headers=auth)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "response_not_found"
    bad = httpx.get(stack.url + "/v1/responses/resp_nope/input_items?limit=0", headers=auth)
    assert bad.status_code == 404  # the response is looked up first
