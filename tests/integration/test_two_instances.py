"""Two Switchyard instances on one PostgreSQL database and one Redis: a key's rate limit
holds across both, and a route edited or a key revoked through one instance is in force
on the other within a second. Needs the local PostgreSQL and Redis (started if down)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.live import Gateway, running_gateway

pytestmark = pytest.mark.services


@pytest.fixture(scope="module")
def pair(tmp_path_factory, database_url, redis_url) -> Iterator[tuple[Gateway, Gateway]]:
    # several instances share one SECRET_KEY, as docs/production.md says: it seals the
    # stored secrets they all read and the MCP session ids any of them may be handed
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": "two-instances-share-this-secret-key-0123456789",
    }
    with (
        running_gateway(tmp_path_factory.mktemp("a"), env=env) as a,
        running_gateway(tmp_path_factory.mktemp("b"), env=env, seed=False) as b,
    ):
        for gateway in (a, b):  # first request starts each instance's registry watcher
            assert chat(gateway, gateway.master_key).status_code == 200, gateway.log()
        yield a, b


def admin(gateway: Gateway) -> httpx.Client:
    return httpx.Client(
        base_url=gateway.url + "/api",
        headers={"Authorization": f"Bearer {gateway.master_key}"},
        timeout=10,
    )


def chat(gateway: Gateway, key: str, model: str = "echo", text: str = "hello") -> httpx.Response:
    return httpx.post(
        gateway.url + "/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": model, "messages": [{"role": "user", "content": text}]},
        timeout=10,
    )


def create_key(gateway: Gateway, **fields) -> str:
    with admin(gateway) as api:
        reply = api.post("/keys/", json={"name": f"k-{uuid.uuid4().hex[:6]}", **fields})
    assert reply.status_code == 201, reply.text
    return reply.json()


def wait_until(check, timeout: float) -> float:
    """Seconds until ``check()`` is true (polling every 50 ms); fails after ``timeout``."""
    started = time.monotonic()
    while True:
        if check():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            pytest.fail(f"not true within {timeout}s")
        time.sleep(0.05)


def known_to(gateway: Gateway, key: str) -> bool:
    """Whether ``gateway`` accepts ``key`` (GET /v1/models: no request counted)."""
    reply = httpx.get(
        gateway.url + "/v1/models", headers={"Authorization": f"Bearer {key}"}, timeout=5
    )
    return reply.status_code == 200


def test_rpm_limit_holds_across_both_instances(pair):
    a, b = pair
    key = create_key(a, rpm_limit=3, routes=["echo"])["key"]
    wait_until(lambda: known_to(b, key), timeout=2)

    statuses = [chat(a, key).status_code, chat(b, key).status_code, chat(a, key).status_code]
    assert statuses == [200, 200, 200]
    refused = chat(b, key)
    assert refused.status_code == 429, refused.text
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert chat(a, key).status_code == 429


def test_route_edited_on_a_is_served_by_b_within_a_second(pair):
    a, b = pair
    with admin(a) as api:
        route = next(r for r in api.get("/routes/").json() if r["name"] == "echo-slow")
        deployment = route["deployments"][0]
        reply_text = f"edited-{uuid.uuid4().hex[:8]}"
        patched = api.patch(
            f"/routes/{route['id']}/deployments/{deployment['id']}",
            json={"params": {"reply": reply_text}},
        )
    assert patched.status_code == 200, patched.text

    def b_replies_with_new_text() -> bool:
        answer = chat(b, b.master_key, model="echo-slow")
        return answer.json()["choices"][0]["message"]["content"] == reply_text

    elapsed = wait_until(b_replies_with_new_text, timeout=1.0)
    print(f"route edit on A served by B after {elapsed:.3f}s")


def test_route_disabled_on_a_is_gone_on_b_within_a_second(pair):
    a, b = pair
    with admin(a) as api:
        route = next(r for r in api.get("/routes/").json() if r["name"] == "echo-pair")
        assert chat(b, b.master_key, model="echo-pair").status_code == 200
        assert api.patch(f"/routes/{route['id']}", json={"enabled": False}).status_code == 200
    assert wait_until(lambda: chat(b, b.master_key, "echo-pair").status_code == 404, 1.0) <= 1.0


def test_key_revoked_on_a_fails_on_b(pair):
    a, b = pair
    created = create_key(a)
    key = created["key"]
    wait_until(lambda: known_to(b, key), timeout=2)
    assert chat(b, key).status_code == 200

    with admin(a) as api:
        assert api.post(f"/keys/{created['id']}/revoke").status_code == 200
    elapsed = wait_until(lambda: chat(b, key).status_code == 401, timeout=1.0)
    print(f"key revoked on A refused by B after {elapsed:.3f}s")
    refused = chat(b, key)
    assert "revoked" in refused.json()["error"]["message"]


APPLIED = """
model_list:
  - model_name: {name}
    litellm_params:
      model: openai/gpt-applied
      api_base: http://127.0.0.1:9/v1
      api_key: os.environ/APPLIED_API_KEY
{more}
"""


def routes_of(gateway: Gateway) -> set[str]:
    reply = httpx.get(
        gateway.url + "/v1/models",
        headers={"Authorization": f"Bearer {gateway.master_key}"},
        timeout=5,
    )
    return {model["id"] for model in reply.json()["data"]}


def test_apply_twice_is_a_fixed_point_and_a_removed_route_leaves_both(pair, tmp_path):
    """Config as code across instances: ``apply`` through A twice changes nothing the
    second time (its dry run finds no drift, the export is the same), and a route taken
    out of the file is gone from B within a second."""
    a, b = pair
    both = tmp_path / "both.yaml"
    more = (
        "  - model_name: applied-two\n    litellm_params:\n      model: openai/gpt-applied\n"
        "      api_base: http://127.0.0.1:9/v1\n      api_key: os.environ/APPLIED_API_KEY\n"
    )
    both.write_text(APPLIED.format(name="applied-one", more=more))
    a.manage("apply", "-f", str(both))
    exported = a.manage("export_config").stdout
    again = a.manage("apply", "-f", str(both), "--dry-run", check=False)
    assert again.returncode == 0, again.stdout + again.stderr
    a.manage("apply", "-f", str(both))
    assert a.manage("export_config").stdout == exported
    wait_until(lambda: {"applied-one", "applied-two"} <= routes_of(b), timeout=2)

    one = tmp_path / "one.yaml"
    one.write_text(APPLIED.format(name="applied-one", more=""))
    drift = a.manage("apply", "-f", str(one), "--dry-run", check=False)
    assert drift.returncode == 2 and "applied-two" in drift.stdout
    a.manage("apply", "-f", str(one))
    wait_until(lambda: "applied-two" not in routes_of(b), timeout=1.0)
    assert "applied-one" in routes_of(b) and "echo" in routes_of(b)  # the console's stay


MCP_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}


def mcp_post(gateway: Gateway, body: dict, session: str | None = None) -> httpx.Response:
    headers = {**MCP_HEADERS, "authorization": f"Bearer {gateway.master_key}"}
    if session is not None:
        headers["mcp-session-id"] = session
        headers["mcp-protocol-version"] = "2025-06-18"
    return httpx.post(gateway.url + "/mcp", headers=headers, json=body, timeout=10)


def test_an_mcp_session_opened_on_a_is_served_by_b_and_ended_everywhere(pair):
    """No sticky routing: the session id A issues is served by B; DELETE on A ends it
    on B from B's very next request."""
    a, b = pair
    opened = mcp_post(
        a,
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-06-18",
                "capabilities": {},
                "clientInfo": {"name": "two-instances", "version": "1"},
            },
        },
    )
    assert opened.status_code == 200, opened.text
    session = opened.headers["mcp-session-id"]
    listed = mcp_post(b, {"jsonrpc": "2.0", "id": 2, "method": "tools/list"}, session)
    assert listed.status_code == 200, listed.text
    assert '"tools"' in listed.text
    forged = mcp_post(b, {"jsonrpc": "2.0", "id": 3, "method": "tools/list"}, session[:-4] + "AAAA")
    assert forged.status_code == 404
    ended = httpx.delete(
        a.url + "/mcp",
        headers={
            **MCP_HEADERS,
            "authorization": f"Bearer {a.master_key}",
            "mcp-session-id": session,
            "mcp-protocol-version": "2025-06-18",
        },
        timeout=10,
    )
    assert ended.status_code in (200, 204), ended.text
    # B served the session a moment ago (and would once have trusted that for a
    # second): the request right after the DELETE on A is refused all the same
    after = mcp_post(b, {"jsonrpc": "2.0", "id": 4, "method": "tools/list"}, session)
    assert after.status_code == 404, after.text
    assert after.json()["error"]["message"] == "Session not found"
