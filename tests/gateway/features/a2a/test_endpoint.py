"""The ``/a2a/<agent>`` endpoint in process (``gateway.features.a2a.endpoint``): the
refusals before anything is sent (no key, an agent that is not there or not granted, a
body that is not JSON-RPC, an operation A2A does not have), each in the caller's binding;
the card rewritten to the gateway's origin; and a message relayed to the agent (an
``httpx.MockTransport``) with the operator's bearer token the caller never sees, its task
bound to the caller's key. The SDKs against a running gateway are in
``test_live_a2a.py``."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest
from asgiref.sync import async_to_sync

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.base.secrets import crypto
from gateway.features.a2a import endpoint, tasks
from gateway.models import A2aAgent

MASTER_RAW = "sy-master-a2a-endpoint"
CARD: dict[str, Any] = {
    "name": "echo",
    "version": "1",
    "description": "says it back",
    "supportedInterfaces": [
        {
            "url": "https://agents.example/echo/rpc",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        }
    ],
    "capabilities": {},
    "defaultInputModes": ["text/plain"],
    "defaultOutputModes": ["text/plain"],
    "skills": [],
}
SEND = {
    "jsonrpc": "2.0",
    "id": 4,
    "method": "SendMessage",
    "params": {"message": {"messageId": "m1", "role": "ROLE_USER", "parts": [{"text": "hi"}]}},
}


@pytest.fixture
def agent(db: None, settings: Any, snapshot_reset: None) -> Iterator[A2aAgent]:
    settings.SWITCHYARD_MASTER_KEY = MASTER_RAW
    settings.SWITCHYARD_PUBLIC_URL = ""
    row = A2aAgent.objects.create(
        name="echo",
        url="https://agents.example/echo",
        card=CARD,
        auth="bearer",
        bearer_ciphertext=crypto.encrypt("agent-secret"),
    )
    registry.rebuild()
    yield row


def _call(
    method: str, path: str, body: bytes = b"", key: str | None = MASTER_RAW
) -> httpx.Response:
    headers = {"authorization": f"Bearer {key}"} if key else {}

    async def call() -> httpx.Response:
        transport = httpx.ASGITransport(app=endpoint.app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw.test") as client:
            return await client.request(method, path, content=body, headers=headers)

    return async_to_sync(call)()


def test_no_key_is_refused_in_each_binding(agent: A2aAgent) -> None:
    rpc = _call("POST", "/a2a/echo", orjson.dumps(SEND), key=None)
    assert rpc.status_code == 401
    assert rpc.json()["error"]["code"] == -32040 and rpc.json()["id"] is None
    rest = _call("GET", "/a2a/echo/tasks/t1", key="sy-not-a-key")
    assert rest.status_code == 401 and rest.json()["error"]["status"] == "UNAUTHENTICATED"


def test_an_agent_not_there_or_disabled_is_not_found(agent: A2aAgent) -> None:
    missing = _call("POST", "/a2a/ghost", orjson.dumps(SEND))
    assert missing.status_code == 200  # JSON-RPC: the error in the envelope
    assert missing.json()["error"] == {"code": -32044, "message": "no agent named 'ghost'"}
    A2aAgent.objects.filter(pk=agent.pk).update(enabled=False)
    registry.rebuild()
    assert _call("GET", "/a2a/echo/tasks/t1").json()["error"]["code"] == 404


def test_an_agent_created_a_moment_ago_in_another_process_is_found(
    agent: A2aAgent, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its row is stored but this process's snapshot is older: the unknown name makes
    the endpoint check the stored registry once before answering "no agent"."""
    A2aAgent.objects.create(name="fresh", url="https://agents.example/fresh", card=CARD)
    newer, checks = registry.build_snapshot(), []

    async def refresh_on_miss() -> bool:
        checks.append(newer.version)
        registry.install(newer)
        return True

    monkeypatch.setattr(registry, "refresh_on_miss", refresh_on_miss)
    card = _call("GET", "/a2a/fresh/.well-known/agent-card.json")
    assert card.status_code == 200 and card.json()["name"] == "echo"
    assert len(checks) == 1
    assert _call("GET", "/a2a/fresh/.well-known/agent-card.json").status_code == 200
    assert len(checks) == 1  # known now: no second check


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{not json", -32700),
        (b"[1]", -32600),
        (orjson.dumps({"jsonrpc": "1.0", "method": "SendMessage"}), -32600),
        (orjson.dumps({"jsonrpc": "2.0", "id": 9, "method": "NoSuchMethod"}), -32601),
    ],
)
def test_a_body_that_is_no_a2a_call_is_refused(agent: A2aAgent, body: bytes, code: int) -> None:
    answer = _call("POST", "/a2a/echo", body)
    assert answer.status_code == 200 and answer.json()["error"]["code"] == code


def test_an_http_operation_a2a_does_not_have(agent: A2aAgent) -> None:
    answer = _call("DELETE", "/a2a/echo/tasks/t1")
    assert answer.status_code == 404
    assert answer.json()["error"]["details"][0]["reason"] == "METHOD_NOT_FOUND"


def test_the_card_points_at_the_gateway(agent: A2aAgent) -> None:
    card = _call("GET", "/a2a/echo/.well-known/agent-card.json").json()
    urls = [i["url"] for i in card["supportedInterfaces"]]
    assert urls and all(u.startswith("http://gw.test/a2a/echo") for u in urls)
    assert "agents.example" not in orjson.dumps(card).decode()


def test_the_origin_is_the_public_url_else_as_the_request_came(settings: Any) -> None:
    settings.SWITCHYARD_PUBLIC_URL = ""
    scope: dict[str, Any] = {"scheme": "https", "headers": [(b"host", b"gw.example:8443")]}
    assert endpoint.base_url(scope, "echo") == "https://gw.example:8443/a2a/echo"
    assert endpoint.origin({"server": ("10.0.0.1", 80)}) == "http://10.0.0.1"
    assert endpoint.origin({"server": ("10.0.0.1", 8000)}) == "http://10.0.0.1:8000"
    settings.SWITCHYARD_PUBLIC_URL = "https://public.example/"
    assert endpoint.origin(scope) == "https://public.example"


def test_a_message_is_relayed_with_the_operators_token(
    transactional_db: None, agent: A2aAgent
) -> None:
    # the task is bound off the event loop (``db_work``), on a connection of its own
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        task = {"id": "t-9", "contextId": "c-9", "status": {"state": "TASK_STATE_COMPLETED"}}
        return httpx.Response(200, json={"jsonrpc": "2.0", "id": 4, "result": {"task": task}})

    http.use_transport(httpx.MockTransport(answer))
    relayed = _call("POST", "/a2a/echo", orjson.dumps(SEND))
    assert relayed.status_code == 200, relayed.text
    assert relayed.json()["result"]["task"]["id"] == "t-9"
    (sent,) = seen
    assert str(sent.url) == "https://agents.example/echo/rpc"
    assert sent.headers["authorization"] == "Bearer agent-secret"
    assert MASTER_RAW not in str(sent.headers)  # the caller's key never goes to the agent
    assert orjson.loads(sent.content)["method"] == "SendMessage"
    other = dataclasses.replace(MASTER, id=77, name="other")
    assert tasks.owns(agent.pk, "t-9", MASTER) and not tasks.owns(agent.pk, "t-9", other)
