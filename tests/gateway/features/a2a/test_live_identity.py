"""An agent calling a model and an MCP tool through the gateway as the caller who
started it (issue #63), end to end: the official ``a2a-sdk`` client calls the
``delegate`` agent (``agents_server.py``, an ``a2a-sdk`` server) through a running
gateway on both bindings; the agent calls ``/v1/chat/completions`` and the ``mcp`` SDK's
``tools/call`` at ``/mcp`` with the token the gateway carried on the call, and trades it
at ``/oauth/token`` (RFC 8693) for a narrower one. The spend lands on the caller's key
and in the run; a key without permission is refused; a per-run budget refuses the call
past it; an expired token, a token for another surface and the token of a revoked key
are refused in the caller's own format. An agent not trusted to act as its callers
(``act_as_caller`` off) is sent no token. A budget per session holds across the runs of
one context; an agent calls another (the ``echo`` agent, or itself again) through the
gateway with the token, in the same run and session, within the caller's grants and at
most ``MAX_DEPTH`` agents deep."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
from a2a.client import ClientConfig, ClientFactory
from a2a.client.card_resolver import parse_agent_card
from a2a.types.a2a_pb2 import Message, Part, Role, SendMessageRequest

from tests.gateway.features.a2a import live_agents
from tests.gateway.features.mcp.test_live_mcp import SERVER_SCRIPT
from tests.live import free_port, running_gateway

JSONRPC, REST = "JSONRPC", "HTTP+JSON"
ALLOW = {"SWITCHYARD_URL_FETCH_ALLOW": "127.0.0.1"}

SETUP = """
import json, sys
from decimal import Decimal
from gateway.features.a2a import save
from gateway.models import ApiKey, Deployment, McpServer, Provider, Route
from gateway.access import keys
url = 'http://127.0.0.1:%(agent)d/delegate'
save.save_agent(None, {'name': 'delegate', 'url': url, 'price_usd': '0.5', 'act_as_caller': True})
save.save_agent(None, {'name': 'capped', 'url': url, 'run_budget_usd': '0.03', 'act_as_caller': True})
save.save_agent(None, {'name': 'untrusted', 'url': url})
save.save_agent(None, {'name': 'sessioned', 'url': url, 'session_budget_usd': '0.05', 'act_as_caller': True})
save.save_agent(None, {'name': 'forgetful', 'url': 'http://127.0.0.1:%(forgetful)d/forgetful', 'session_budget_usd': '0.05', 'act_as_caller': True})
save.save_agent(None, {'name': 'echo', 'url': 'http://127.0.0.1:%(echo)d/echo', 'price_usd': '0.01'})
provider = Provider.objects.create(name='echo', kind=Provider.Kind.ECHO)
for name in ('chat', 'other'):
    route = Route.objects.create(name=name)
    Deployment.objects.create(route=route, provider=provider, model='echo', input_price=Decimal('1000'), output_price=Decimal('1000'), max_output_tokens=64)
m = McpServer(name='tools', transport='streamable_http', url='http://127.0.0.1:%(mcp)d/mcp')
m.from_operator = True
m.full_clean(); m.save()
def make(name, **kw):
    a2a = kw.pop('a2a', ['delegate', 'capped', 'untrusted', 'sessioned', 'echo', 'forgetful'])
    created = keys.create_key(name=name, **kw)
    ApiKey.objects.filter(pk=created.key.pk).update(a2a_allowed=a2a)
    return created.raw
out = {
    'caller': make('caller', mcp_allowed=['tools__add'], routes=['chat']),
    'narrow': make('narrow', routes=['other'], a2a=['delegate']),
    'doomed': make('doomed', mcp_allowed=['tools']),
}
print(json.dumps(out))
"""


@dataclass
class World:
    url: str
    keys: dict[str, str]
    gateway: Any


@pytest.fixture(scope="module")
def world(tmp_path_factory):  # type: ignore[no-untyped-def]
    port = free_port()
    mcp = subprocess.Popen(
        [sys.executable, str(SERVER_SCRIPT), "http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with (
            live_agents.running("delegate", "echo", "forgetful") as ports,
            running_gateway(tmp_path_factory.mktemp("a2a-id"), ALLOW, seed=False) as gw,
        ):
            values = {"agent": ports["delegate"], "echo": ports["echo"], "mcp": port}
            values["forgetful"] = ports["forgetful"]
            out = gw.shell(SETUP % values)
            keys = json.loads(out.strip().splitlines()[-1])
            card = f"{gw.url}/a2a/delegate/.well-known/agent-card.json"
            auth = {"Authorization": f"Bearer {keys['caller']}"}
            deadline = time.monotonic() + 20  # the registry watch sees the new rows
            while httpx.get(card, headers=auth).status_code != 200:
                assert time.monotonic() < deadline, gw.log()
                time.sleep(0.2)
            yield World(gw.url, keys, gw)
    finally:
        mcp.terminate()
        mcp.wait(timeout=10)


async def ask(
    world: World, agent: str, key: str, text: str, binding: str, context: str = ""
) -> dict[str, Any]:
    """Send ``text`` to ``agent`` with the SDK's client as ``key``; the agent's report."""
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}) as fetcher:
        answer = await fetcher.get(f"{world.url}/a2a/{agent}/.well-known/agent-card.json")
    assert answer.status_code == 200, answer.text
    data = answer.json()
    data["supportedInterfaces"] = [
        i for i in data["supportedInterfaces"] if i["protocolVersion"] == "1.0"
    ]
    http = httpx.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=60)
    config = ClientConfig(streaming=False, httpx_client=http, supported_protocol_bindings=[binding])
    client = ClientFactory(config).create(parse_agent_card(data))
    sent = Message(
        message_id=uuid.uuid4().hex,
        role=Role.ROLE_USER,
        parts=[Part(text=text)],
        context_id=context,
    )
    async with client:
        events = [e async for e in client.send_message(SendMessageRequest(message=sent))]
    tasks = [e.task for e in events if e.HasField("task")]
    assert tasks, events
    report: dict[str, Any] = json.loads(tasks[-1].status.message.parts[0].text)
    report["task"] = tasks[-1].id
    return report


def rows(world: World, where: str) -> list[dict[str, Any]]:
    code = (
        "import json\nfrom gateway.models import RequestLog\n"
        f"rows = RequestLog.objects.filter({where}).order_by('id')\n"
        "print(json.dumps([dict(dialect=r.dialect, route=r.route, status=r.status, "
        "key=r.key_name, run=r.agent_run, cost=str(r.cost_usd), task=r.upstream_model, "
        "session=r.session, "
        "request=r.request_id, error=r.error_kind) for r in rows]))"
    )
    return json.loads(world.gateway.shell(code).strip().splitlines()[-1])


def settled(world: World, run: str, count: int) -> list[dict[str, Any]]:
    """The run's journal rows once ``count`` have been written (the journal is behind)."""
    deadline = time.monotonic() + 15
    while True:
        found = rows(world, f"agent_run={run!r}")
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


@pytest.mark.parametrize("binding", [JSONRPC, REST])
async def test_the_agent_calls_a_model_and_a_tool_as_its_caller(world, binding):  # type: ignore[no-untyped-def]
    text = f"{world.url} chat tools__add"
    report = await ask(world, "delegate", world.keys["caller"], text, binding)
    assert report["token"] and report["run"].startswith("a2a_")
    assert report["chats"] == [{"status": 200, "error": None}]
    assert report["mcp"] == {"ok": True, "text": "5"}
    # the caller's key never reaches the agent, nor does the token appear beside it
    assert world.keys["caller"] not in json.dumps(report["headers"])
    found = settled(world, report["run"], 3)
    by_dialect = {r["dialect"]: r for r in found}
    assert set(by_dialect) == {"a2a", "openai", "mcp"}, found
    assert all(r["key"] == "caller" for r in found)
    assert by_dialect["a2a"]["request"] == report["run"]  # the run is the A2A call
    assert by_dialect["a2a"]["task"] == report["task"]
    assert Decimal(by_dialect["openai"]["cost"]) > 0
    assert by_dialect["openai"]["route"] == "chat" and by_dialect["mcp"]["route"] == "tools"
    # the run's spend in /api/spend, grouped by agent run
    master = {"Authorization": f"Bearer {world.gateway.master_key}"}
    async with httpx.AsyncClient(headers=master) as api:
        spend = await api.get(f"{world.url}/api/spend", params={"group_by": "agent_run"})
    assert spend.status_code == 200, spend.text
    groups = {g["agent_run"]: g for g in spend.json()["items"]}
    total = sum(Decimal(r["cost"]) for r in found)
    assert Decimal(str(groups[report["run"]]["cost_usd"])) == total


async def test_a_key_without_permission_is_refused_through_the_agent(world):  # type: ignore[no-untyped-def]
    report = await ask(
        world, "delegate", world.keys["narrow"], f"{world.url} chat tools__add", REST
    )
    assert report["chats"][0]["status"] == 403
    assert report["chats"][0]["error"]["type"] == "permission_error"
    assert not report["mcp"]["ok"]


async def test_an_agent_not_trusted_to_act_as_its_callers_gets_no_token(world):  # type: ignore[no-untyped-def]
    report = await ask(
        world, "untrusted", world.keys["caller"], f"{world.url} chat tools__add", REST
    )
    assert not report["token"] and report["run"] == ""
    assert report["chats"][0]["status"] == 401


async def test_an_exchanged_token_reaches_only_what_it_was_exchanged_for(world):  # type: ignore[no-untyped-def]
    text = f"{world.url} chat tools__add exchange"
    report = await ask(world, "delegate", world.keys["caller"], text, JSONRPC)
    assert report["exchange"] == 200
    assert report["chats"] == [{"status": 200, "error": None}]  # models: in its audience
    assert not report["exchanged_mcp"]["ok"]  # /mcp: not
    assert report["mcp"] == {"ok": True, "text": "5"}  # the carried one still reaches it


async def test_a_run_budget_refuses_the_call_past_it(world):  # type: ignore[no-untyped-def]
    text = f"{world.url} chat tools__add times=4"
    report = await ask(world, "capped", world.keys["caller"], text, REST)
    statuses = [c["status"] for c in report["chats"]]
    assert statuses[0] == 200 and 429 in statuses, report
    refused = report["chats"][statuses.index(429)]["error"]
    assert refused["type"] == "rate_limit_error" and "per run" in refused["message"]
    found = settled(world, report["run"], 2)
    spent = sum(Decimal(r["cost"]) for r in found)
    assert 0 < spent <= Decimal("0.03")


def test_expired_foreign_and_revoked_tokens_are_refused(world):  # type: ignore[no-untyped-def]
    code = (
        "from gateway.access import delegation, registry\n"
        "from gateway.base.entries import AgentRun\n"
        "registry.rebuild()\n"
        "snap = registry.current()\n"
        "key = next(k for k in snap.keys.values() if k.name == %r)\n"
        "run = AgentRun(id='a2a_test', agent='delegate')\n"
        "print(delegation.mint(key, run, seconds=-5)[0])\n"
        "print(delegation.mint(key, run, audience=['mcp'])[0])\n"
        "print(delegation.mint(key, run)[0])\n"
    )
    expired, mcp_only, live = world.gateway.shell(code % "doomed").strip().splitlines()[-3:]
    chat = {"model": "chat", "max_tokens": 8, "messages": [{"role": "user", "content": "x"}]}

    def post(path: str, token: str, headers: dict[str, str] | None = None) -> httpx.Response:
        sent = {"Authorization": f"Bearer {token}", **(headers or {})}
        return httpx.post(f"{world.url}{path}", json=chat, headers=sent, timeout=30)

    answer = post("/v1/chat/completions", expired)
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "invalid_api_key"
    assert "expired" in answer.json()["error"]["message"]
    answer = post("/v1/messages", expired, {"anthropic-version": "2023-06-01"})
    assert answer.status_code == 401
    assert answer.json()["error"]["type"] == "authentication_error"
    answer = post("/v1/chat/completions", mcp_only)
    assert answer.status_code == 401 and "not for models" in answer.text
    forged = live[:-4] + ("AAAA" if not live.endswith("AAAA") else "BBBB")
    assert post("/v1/chat/completions", forged).status_code == 401
    assert expired not in world.gateway.log() and live not in world.gateway.log()
    # the key revoked: its live token is refused at once
    world.gateway.shell(
        "from gateway.access import keys\nfrom gateway.models import ApiKey\n"
        "keys.revoke_key(ApiKey.objects.get(name='doomed'))"
    )
    deadline = time.monotonic() + 10
    while (answer := post("/v1/chat/completions", live)).status_code != 401:
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.3)
    assert "revoked" in answer.json()["error"]["message"]


async def test_the_runs_of_one_session_share_its_budget(world):  # type: ignore[no-untyped-def]
    """A message naming no context starts a session (the gateway gives it one, and the
    agent works in it); the next run in that context counts against the same budget
    per session, and its model call past it is refused naming that budget."""
    first = await ask(
        world, "sessioned", world.keys["caller"], f"{world.url} chat tools__add", REST
    )
    assert first["chats"] == [{"status": 200, "error": None}] and first["context"]
    text = f"{world.url} chat tools__add times=4"
    second = await ask(world, "sessioned", world.keys["caller"], text, JSONRPC, first["context"])
    assert second["context"] == first["context"] and second["run"] != first["run"]
    statuses = [c["status"] for c in second["chats"]]
    assert 429 in statuses, second
    refused = second["chats"][statuses.index(429)]["error"]
    assert "budget per session" in refused["message"]
    found = settled(world, second["run"], 2) + settled(world, first["run"], 3)
    assert {r["session"] for r in found} == {first["context"]}, [
        (r["dialect"], r["status"], r["session"]) for r in found
    ]  # the model calls too
    spent = sum(Decimal(r["cost"]) for r in found)
    assert 0 < spent <= Decimal("0.05")
    # a new session starts afresh
    fresh = await ask(
        world, "sessioned", world.keys["caller"], f"{world.url} chat tools__add", REST
    )
    assert fresh["chats"] == [{"status": 200, "error": None}]
    assert fresh["context"] != first["context"]
    master = {"Authorization": f"Bearer {world.gateway.master_key}"}
    params = {"group_by": "agent_session", "session": first["context"]}
    async with httpx.AsyncClient(headers=master) as api:
        answer = await api.get(f"{world.url}/api/spend", params=params)
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["items"]
    assert row["agent"] == "sessioned" and row["runs"] == 2 and row["key"] == "caller"


async def test_an_agent_that_ignores_the_context_stays_in_the_callers_session(world):  # type: ignore[no-untyped-def]
    """The ``forgetful`` agent answers each message in a context of its own: the session
    is still the one the gateway gave the caller's message. A message naming the
    agent's context is in that session (its runs, its budget per session, its spend by
    session), not a new one."""
    first = await ask(
        world, "forgetful", world.keys["caller"], f"{world.url} chat tools__add", REST
    )
    assert first["chats"] == [{"status": 200, "error": None}] and first["context"]
    found = settled(world, first["run"], 3)
    (session,) = {r["session"] for r in found}  # the one the gateway gave the message
    assert session and session != first["context"]  # the agent ignored it
    text = f"{world.url} chat tools__add times=4"
    second = await ask(world, "forgetful", world.keys["caller"], text, JSONRPC, first["context"])
    assert second["context"] not in (first["context"], session)  # ignored again
    statuses = [c["status"] for c in second["chats"]]
    assert 429 in statuses, second  # the one budget per session, not a fresh one
    refused = second["chats"][statuses.index(429)]["error"]
    assert "budget per session" in refused["message"]
    found += settled(world, second["run"], 2)
    assert {r["session"] for r in found} == {session}, [
        (r["dialect"], r["status"], r["session"]) for r in found
    ]
    master = {"Authorization": f"Bearer {world.gateway.master_key}"}
    params = {"group_by": "agent_session", "session": session}
    async with httpx.AsyncClient(headers=master) as api:
        answer = await api.get(f"{world.url}/api/spend", params=params)
    assert answer.status_code == 200, answer.text
    (row,) = answer.json()["items"]
    assert row["agent"] == "forgetful" and row["runs"] == 2 and row["key"] == "caller"


async def test_an_agent_calls_another_as_its_caller_in_the_same_run(world):  # type: ignore[no-untyped-def]
    text = f"{world.url} chat tools__add chain=echo"
    report = await ask(world, "delegate", world.keys["caller"], text, REST)
    assert report["chain"]["status"] == 200 and report["chain"]["error"] is None, report
    found = settled(world, report["run"], 4)
    calls = {r["route"]: r for r in found if r["dialect"] == "a2a"}
    assert set(calls) == {"delegate", "echo"}, found  # the inner call ends first
    assert all(r["key"] == "caller" and r["session"] == report["context"] for r in found)
    echo = calls["echo"]
    assert Decimal(echo["cost"]) == Decimal("0.26")  # its price and its reported cost
    assert echo["request"] != report["run"]  # its own call, in the caller's run


async def test_the_callers_grants_bound_the_chain(world):  # type: ignore[no-untyped-def]
    text = f"{world.url} chat tools__add chain=echo"
    report = await ask(world, "delegate", world.keys["narrow"], text, JSONRPC)
    assert report["chain"]["status"] == 200  # JSON-RPC: the refusal is its error
    assert report["chain"]["error"]["code"] == -32043
    assert "echo" in report["chain"]["error"]["message"]


async def test_a_chain_ends_at_its_greatest_depth(world):  # type: ignore[no-untyped-def]
    text = f"{world.url} chat tools__add chain=delegate,delegate,delegate,delegate"
    report = await ask(world, "delegate", world.keys["caller"], text, REST)
    depth, level = 0, report
    while "report" in level["chain"]:
        level, depth = level["chain"]["report"], depth + 1
        assert level["run"] == report["run"] and level["token"]  # one run down the chain
    assert depth == 3, report  # the caller's agent and three more
    refused = level["chain"]["error"]
    assert refused["code"] == -32045 and "at most 4 agents" in refused["message"]
