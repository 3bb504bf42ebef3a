"""An A2A task outlives the instance that started it (issue #63): two gateways on one
PostgreSQL database and one Redis; a 0.3 client's ``message/send`` goes through
instance A, A is killed (SIGKILL: nothing of it runs after), and ``tasks/get`` through
instance B returns the task to the key that started it, while a key of another team
gets A2A's "task not found" (the task's owner is in the database, not in A's memory).
Needs the local PostgreSQL and Redis (started if down)."""

from __future__ import annotations

import json
import time
import uuid
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.gateway.features.a2a import live_agents
from tests.live import running_gateway

pytestmark = pytest.mark.services

SETUP = """
import json
from gateway.access import keys
from gateway.features.a2a import save
from gateway.models import ApiKey, Team
save.save_agent(None, {'name': 'echo', 'url': 'http://127.0.0.1:%(echo)d/echo'})
def make(name, team):
    created = keys.create_key(name=name, team=Team.objects.create(name=team).pk)
    key = ApiKey.objects.get(pk=created.key.pk)
    key.a2a_allowed = ['echo']
    key.save()  # a save, not .update(): the instances hear of the change from its signal
    return created.raw
print(json.dumps({'mine': make('mine', 'red'), 'theirs': make('theirs', 'blue')}))
"""


def rpc(url: str, key: str, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """One JSON-RPC call to the echo agent through the gateway at ``url``."""
    body = {"jsonrpc": "2.0", "id": uuid.uuid4().hex, "method": method, "params": params}
    answer = httpx.post(
        f"{url}/a2a/echo", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def serving(url: str, key: str) -> bool:
    card = f"{url}/a2a/echo/.well-known/agent-card.json"
    return httpx.get(card, headers={"Authorization": f"Bearer {key}"}, timeout=5).status_code == 200


def why(url: str, key: str) -> str:
    """What the card answers while it is not served (for the failure's message)."""
    card = f"{url}/a2a/echo/.well-known/agent-card.json"
    reply = httpx.get(card, headers={"Authorization": f"Bearer {key}"}, timeout=5)
    return f"{reply.status_code} {reply.text[:500]}"


def test_a_task_sent_through_a_killed_instance_is_got_through_another(
    tmp_path_factory: pytest.TempPathFactory,
    database_url: str,
    redis_url: str,
) -> None:
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "two-instances-share-this-secret-key-0123456789",
        "SWITCHYARD_URL_FETCH_ALLOW": "127.0.0.1",
    }
    with ExitStack() as stack:
        ports = stack.enter_context(live_agents.running("echo"))
        a = stack.enter_context(running_gateway(tmp_path_factory.mktemp("a"), env, seed=False))
        b = stack.enter_context(running_gateway(tmp_path_factory.mktemp("b"), env, seed=False))
        keys = json.loads(a.shell(SETUP % {"echo": ports["echo"]}).strip().splitlines()[-1])
        # each instance's registry sees the new rows (60 s: a loaded CI box)
        deadline = time.monotonic() + 60
        while not (serving(a.url, keys["mine"]) and serving(b.url, keys["theirs"])):
            assert time.monotonic() < deadline, (
                why(a.url, keys["mine"]),
                why(b.url, keys["theirs"]),
                a.log() + b.log(),
            )
            time.sleep(0.2)

        message = {
            "kind": "message",
            "messageId": uuid.uuid4().hex,
            "role": "user",
            "parts": [{"kind": "text", "text": "outlive the instance"}],
        }
        sent = rpc(a.url, keys["mine"], "message/send", {"message": message})
        task = sent["result"]
        assert task["kind"] == "task" and task["id"], sent
        a.process.kill()  # no graceful end: what A knew in memory is gone
        a.process.wait(timeout=10)

        got = rpc(b.url, keys["mine"], "tasks/get", {"id": task["id"]})
        assert got["result"]["id"] == task["id"], got
        assert got["result"]["contextId"] == task["contextId"]
        refused = rpc(b.url, keys["theirs"], "tasks/get", {"id": task["id"]})
        assert refused["error"]["code"] == -32001, refused
        assert "not found" in refused["error"]["message"]
        assert "result" not in refused
