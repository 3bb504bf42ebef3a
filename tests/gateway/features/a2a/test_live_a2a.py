"""The official ``a2a-sdk`` client through a running gateway (``manage.py serve``) to two
agents written with the ``a2a-sdk`` server (``agents_server.py``: a streaming one, one
with long tasks; the gateway reaches them with a bearer token the callers never see),
on both HTTP bindings and both protocol versions (1.0, and 0.3 for the clients still on
it): send, stream (relayed event by event), get, list, cancel, push-notification configs;
keys of two teams (another team's task is not found), a key with no grant, a budget
spent, a blocked word refused both ways, one journal row per call with its task id."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.types.a2a_pb2 import (
    CancelTaskRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTasksRequest,
    Message,
    Part,
    Role,
    SendMessageConfiguration,
    SendMessageRequest,
    TaskPushNotificationConfig,
    TaskState,
)

from tests.gateway.features.a2a import live_agents
from tests.live import running_gateway

TOKEN = "agent-side-secret-7781"
JSONRPC, REST = "JSONRPC", "HTTP+JSON"
ALLOW = {"SWITCHYARD_URL_FETCH_ALLOW": "127.0.0.1"}  # the agents are on loopback

SETUP = """
import json
from gateway.features.a2a import save
from gateway.models import ApiKey, Guardrail, TagBudget, Team
from gateway.access import keys
save.save_agent(None, {'name': 'echo', 'url': 'http://127.0.0.1:%(echo)d/echo', 'auth': 'bearer', 'price_usd': '0.5'}, bearer=%(token)r)
save.save_agent(None, {'name': 'slow', 'url': 'http://127.0.0.1:%(slow)d/slow/.well-known/agent-card.json', 'auth': 'bearer'}, bearer=%(token)r)
red = Team.objects.create(name='red', a2a_allowed=['echo', 'slow'])
blue = Team.objects.create(name='blue', a2a_allowed=['*'])
def make(name, team=None, a2a=(), **kw):
    created = keys.create_key(name=name, team=team, **kw)
    ApiKey.objects.filter(pk=created.key.pk).update(a2a_allowed=list(a2a))
    return created.raw
out = {
    'red': make('red-key', red.pk, ['*']),
    'blue': make('blue-key', blue.pk, ['echo', 'slow']),
    'narrow': make('narrow-key', red.pk, ['*', 'ghost']),
    'none': make('no-grant'),
    'poor': make('poor-key', None, ['echo'], budget_usd='0.6'),
    'star': make('star-key', None, ['*']),
    'tagged': make('tagged-key', None, ['echo']),
}
TagBudget.objects.create(name='tight', budget_usd='0.6', budget_period='total')
Guardrail.objects.create(name='no-pineapple', kind='litellm_content_filter', modes=['pre_call', 'post_call'], default_on=True, params={'blocked_words': [{'keyword': 'pineapple', 'action': 'BLOCK'}]})
ApiKey.objects.filter(name='red-key').update(a2a_allowed=['*'])
print(json.dumps(out))
"""


@dataclass
class World:
    url: str
    keys: dict[str, str]
    gateway: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    with (
        live_agents.running("echo", "slow", token=TOKEN) as ports,
        running_gateway(tmp_path_factory.mktemp("a2a"), ALLOW, seed=False) as gw,
    ):
        out = gw.shell(SETUP % {"echo": ports["echo"], "slow": ports["slow"], "token": TOKEN})
        keys = json.loads(out.strip().splitlines()[-1])
        card = f"{gw.url}/a2a/echo/.well-known/agent-card.json"
        auth = {"Authorization": f"Bearer {keys['red']}"}
        deadline = time.monotonic() + 20  # the registry watch sees the new rows
        while httpx.get(card, headers=auth).status_code != 200:
            assert time.monotonic() < deadline, gw.log()
            time.sleep(0.2)
        yield World(gw.url, keys, gw)


def http(key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)


async def client_for(
    world: World, agent: str, key: str, binding: str, version: str = "1.0", streaming: bool = True
) -> Any:
    """The SDK's client as a caller makes it: the card from the gateway (pinned to one
    version's interfaces for a 0.3 client), one binding."""
    async with http(key) as fetcher:
        answer = await fetcher.get(f"{world.url}/a2a/{agent}/.well-known/agent-card.json")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    data["supportedInterfaces"] = [
        i for i in data["supportedInterfaces"] if i["protocolVersion"] == version
    ]
    card = parse_agent_card(data)
    config = ClientConfig(
        streaming=streaming, httpx_client=http(key), supported_protocol_bindings=[binding]
    )
    return ClientFactory(config).create(card)


def message(text: str, task_id: str = "") -> Message:
    return Message(
        message_id=uuid.uuid4().hex,
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        task_id=task_id,
    )


async def collect(events: AsyncIterator[Any]) -> list[Any]:
    return [event async for event in events]


def task_of(events: list[Any]) -> Any:
    tasks = [e.task for e in events if e.HasField("task")]
    assert tasks, events
    return tasks[-1]


def journal(world: World, where: str) -> list[dict[str, Any]]:
    code = (
        "import json\nfrom gateway.models import RequestLog\n"
        f"rows = RequestLog.objects.filter(dialect='a2a', {where}).order_by('id')\n"
        "print(json.dumps([dict(endpoint=r.endpoint, route=r.route, status=r.status, "
        "task=r.upstream_model, cost=str(r.cost_usd), error=r.error_kind, key=r.key_name, "
        "session=r.session) for r in rows]))"
    )
    out = world.gateway.shell(code)
    return json.loads(out.strip().splitlines()[-1])


def journal_until(
    world: World, where: str, done: Callable[[list[dict[str, Any]]], bool], seconds: float = 15
) -> list[dict[str, Any]]:
    """``journal`` once its rows satisfy ``done``: the journal is written after the
    answer, by the writer's next batch, so the last call's row may lag the client."""
    deadline = time.monotonic() + seconds
    rows = journal(world, where)
    while not done(rows) and time.monotonic() < deadline:
        time.sleep(0.2)
        rows = journal(world, where)
    return rows


@pytest.mark.parametrize("binding", [JSONRPC, REST])
@pytest.mark.parametrize("version", ["1.0", "0.3"])
async def test_send_stream_get_list_cancel_through_the_gateway(world, binding, version):  # type: ignore[no-untyped-def]
    red = await client_for(world, "echo", world.keys["red"], binding, version)
    async with red:
        # streamed: every artifact chunk relayed as its own event, the task completed
        events = await collect(
            red.send_message(SendMessageRequest(message=message("one two three")))
        )
        updates = [e for e in events if e.HasField("artifact_update")]
        assert [u.artifact_update.artifact.parts[0].text for u in updates] == [
            "ONE",
            "TWO",
            "THREE",
        ]
        task = task_of(events) if any(e.HasField("task") for e in events) else None
        task_id = updates[0].artifact_update.task_id
        fetched = await red.get_task(GetTaskRequest(id=task_id))
        assert fetched.status.state == TaskState.TASK_STATE_COMPLETED
        assert fetched.id == task_id and (task is None or task.id == task_id)

    plain = await client_for(world, "echo", world.keys["red"], binding, version, streaming=False)
    async with plain:
        events = await collect(plain.send_message(SendMessageRequest(message=message("hi"))))
        sent = task_of(events)
        assert sent.status.state == TaskState.TASK_STATE_COMPLETED

    slow = await client_for(world, "slow", world.keys["red"], binding, version, streaming=False)
    async with slow:
        request = SendMessageRequest(
            message=message("take your time"),
            configuration=SendMessageConfiguration(return_immediately=True),
        )
        long = task_of(await collect(slow.send_message(request)))
        assert long.status.state in (TaskState.TASK_STATE_SUBMITTED, TaskState.TASK_STATE_WORKING)
        if version == "1.0":  # tasks/list is new in 1.0
            listed = await slow.list_tasks(ListTasksRequest(page_size=50))
            assert long.id in [t.id for t in listed.tasks]
        canceled = await slow.cancel_task(CancelTaskRequest(id=long.id))
        assert canceled.status.state == TaskState.TASK_STATE_CANCELED

    rows = journal_until(world, f"upstream_model='{long.id}'", lambda rows: len(rows) >= 2)
    assert [r["endpoint"] for r in rows] == (
        ["SendMessage", "ListTasks", "CancelTask"]
        if version == "1.0"
        else ["SendMessage", "CancelTask"]
    ) or rows[0]["endpoint"] == "SendMessage"
    assert all(r["route"] == "slow" and r["key"] == "red-key" for r in rows)


async def test_another_teams_key_finds_no_task(world):  # type: ignore[no-untyped-def]
    red = await client_for(world, "slow", world.keys["red"], JSONRPC, streaming=False)
    blue = await client_for(world, "slow", world.keys["blue"], JSONRPC, streaming=False)
    async with red, blue:
        request = SendMessageRequest(
            message=message("mine"), configuration=SendMessageConfiguration(return_immediately=True)
        )
        mine = task_of(await collect(red.send_message(request)))
        for attempt in (
            blue.get_task(GetTaskRequest(id=mine.id)),
            blue.cancel_task(CancelTaskRequest(id=mine.id)),
            blue.get_task_push_notification_config(
                GetTaskPushNotificationConfigRequest(task_id=mine.id, id="x")
            ),
        ):
            with pytest.raises(Exception) as refused:
                await attempt
            assert "not found" in str(refused.value).lower()
        listed = await blue.list_tasks(ListTasksRequest(page_size=50))
        assert mine.id not in [t.id for t in listed.tasks]
        # continuing another's task is refused too
        with pytest.raises(Exception, match="(?i)not found"):
            await collect(blue.send_message(SendMessageRequest(message=message("hi", mine.id))))
        # the owner still has it, and may set a push config on it (relayed)
        assert (await red.get_task(GetTaskRequest(id=mine.id))).id == mine.id
        config = TaskPushNotificationConfig(task_id=mine.id, url="https://hooks.example/x")
        made = await red.create_task_push_notification_config(config)
        assert made.task_id == mine.id
        await red.cancel_task(CancelTaskRequest(id=mine.id))
    async with http(world.keys["blue"]) as raw:  # the raw envelope: A2A's TaskNotFound
        answer = await raw.post(
            f"{world.url}/a2a/slow",
            json={"jsonrpc": "2.0", "id": 9, "method": "GetTask", "params": {"id": mine.id}},
        )
        assert answer.status_code == 200
        assert answer.json()["error"]["code"] == -32001 and answer.json()["id"] == 9
        rest = await raw.get(f"{world.url}/a2a/slow/tasks/{mine.id}")
        assert rest.status_code == 404
        assert rest.json()["error"]["details"][0]["reason"] == "TASK_NOT_FOUND"


async def test_keys_without_a_grant_and_unknown_agents_are_refused(world):  # type: ignore[no-untyped-def]
    async with http(world.keys["none"]) as raw:
        card = await raw.get(f"{world.url}/a2a/echo/.well-known/agent-card.json")
        assert card.status_code == 403
        rpc = await raw.post(
            f"{world.url}/a2a/echo",
            json={"jsonrpc": "2.0", "id": 1, "method": "SendMessage", "params": {}},
        )
        assert rpc.json()["error"]["code"] == -32043
    async with httpx.AsyncClient() as anonymous:
        answer = await anonymous.post(
            f"{world.url}/a2a/echo", json={"jsonrpc": "2.0", "id": 1, "method": "GetTask"}
        )
        assert answer.status_code == 401 and answer.json()["error"]["code"] == -32040
    async with http(world.keys["red"]) as raw:
        ghost = await raw.get(f"{world.url}/a2a/ghost/.well-known/agent-card.json")
        assert ghost.status_code == 404
        card = (await raw.get(f"{world.url}/a2a/echo/.well-known/agent-card.json")).json()
    # the card points at the gateway, never at the agent, and carries no agent secret
    assert {i["url"] for i in card["supportedInterfaces"]} == {f"{world.url}/a2a/echo"}
    assert card["url"] == f"{world.url}/a2a/echo"
    assert TOKEN not in json.dumps(card)


async def test_a_budget_is_charged_and_then_refuses(world):  # type: ignore[no-untyped-def]
    poor = await client_for(world, "echo", world.keys["poor"], JSONRPC, streaming=False)
    async with poor:
        # 0.5 per call + the 0.25 the agent reports: 0.75 of a 0.6 budget
        await collect(poor.send_message(SendMessageRequest(message=message("first"))))
        with pytest.raises(Exception, match="(?i)budget"):
            await collect(poor.send_message(SendMessageRequest(message=message("second"))))
    rows = journal_until(world, "key_name='poor-key'", lambda rows: len(rows) >= 2)
    assert rows[0]["cost"].startswith("0.75") and rows[0]["status"] == 200
    assert rows[0]["task"] and rows[0]["session"]  # the task and its context
    assert rows[-1]["status"] == 429


async def test_a_tags_budget_is_charged_and_then_refuses(world):  # type: ignore[no-untyped-def]
    """A message tagged with a tag that has a budget holds the agent's price of the tag's
    budget and is charged to it. A2A admitted a message without its tags' limits, so a
    tag's budget never refused one (bench/budget_torture.py: 23 calls on a tag budget of
    five, $2.30 of $0.50)."""
    headers = {"x-switchyard-tags": "tight", "A2A-Version": "1.0"}

    async def send(text: str) -> httpx.Response:
        body = {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "SendMessage",
            "params": {"message": {"role": "ROLE_USER", "parts": [{"text": text}],
                                   "messageId": uuid.uuid4().hex}},
        }  # fmt: skip
        async with http(world.keys["tagged"]) as raw:
            return await raw.post(f"{world.url}/a2a/echo", json=body, headers=headers)

    first = await send("first")
    assert first.status_code == 200 and "result" in first.json(), first.text
    # 0.5 per call + the 0.25 the agent reports: 0.75 of the tag's 0.6
    second = await send("second")
    assert "budget" in second.text.lower() and "tight" in second.text, second.text
    rows = journal_until(world, "key_name='tagged-key'", lambda rows: len(rows) >= 2)
    assert rows[0]["cost"].startswith("0.75") and rows[-1]["status"] == 429


@pytest.mark.parametrize("binding", [JSONRPC, REST])
async def test_a_blocked_word_is_refused_both_ways(world, binding):  # type: ignore[no-untyped-def]
    red = await client_for(world, "echo", world.keys["red"], binding)
    async with red:
        # (the SDK's HTTP+JSON client reads a status, the JSON-RPC one the message)
        with pytest.raises(Exception, match="(?i)pineapple|400"):
            await collect(red.send_message(SendMessageRequest(message=message("a pineapple"))))
        # the agent says it (streamed): the event carrying it is replaced by the refusal
        events: list[Any] = []
        with pytest.raises(Exception, match="(?i)pineapple|guardrail"):
            async for event in red.send_message(
                SendMessageRequest(message=message("say hello pine_apple"))
            ):
                events.append(event)
        said = [
            p.text
            for e in events
            if e.HasField("artifact_update")
            for p in e.artifact_update.artifact.parts
        ]
        assert "pineapple" not in said and said[:1] == ["hello"]


async def test_streamed_events_arrive_one_by_one(world):  # type: ignore[no-untyped-def]
    """SSE relayed as it comes: the first chunk is read before the agent has finished."""
    body = {
        "jsonrpc": "2.0",
        "id": 3,
        "method": "SendStreamingMessage",
        "params": {
            "message": {
                "messageId": "s1",
                "role": "ROLE_USER",
                "parts": [{"text": "a b c d e f g h"}],
            }
        },
    }
    arrivals = []
    async with (
        http(world.keys["red"]) as raw,
        raw.stream("POST", f"{world.url}/a2a/echo", json=body) as answer,
    ):
        assert answer.headers["content-type"].startswith("text/event-stream")
        async for line in answer.aiter_lines():
            if line.startswith("data:"):
                arrivals.append(time.monotonic())
                assert json.loads(line[5:])["id"] == 3
    assert len(arrivals) >= 10
    assert arrivals[-1] - arrivals[0] > 0.2  # eight chunks 50 ms apart, not one burst


async def test_the_extended_card_only_for_a_grant_by_name(world):  # type: ignore[no-untyped-def]
    """The echo agent serves an extended card: a key granted the agent by name sees the
    capability and gets it (relayed, rewritten to the gateway); a ``*`` grant reaches
    the public card only."""
    async with http(world.keys["star"]) as raw:
        card = (await raw.get(f"{world.url}/a2a/echo/.well-known/agent-card.json")).json()
        assert card["capabilities"]["extendedAgentCard"] is False
        refused = await raw.post(
            f"{world.url}/a2a/echo",
            json={"jsonrpc": "2.0", "id": 4, "method": "GetExtendedAgentCard", "params": {}},
        )
        assert refused.json()["error"]["code"] == -32007
    named = await client_for(world, "echo", world.keys["blue"], JSONRPC)
    async with named:
        extended = await named.get_extended_agent_card(GetExtendedAgentCardRequest())
    assert "shout" in [s.name for s in extended.skills]
    assert {i.url for i in extended.supported_interfaces} == {f"{world.url}/a2a/echo"}
