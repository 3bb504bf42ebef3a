"""The tasks extension (``io.modelcontextprotocol/tasks``) through ``/mcp``, with the
official SDK on both sides: a 2026-07-28 ``mcp.Client`` that declares the extension
(an SDK client extension claiming the ``task`` result) and plain clients of both eras,
against a server written with the SDK's ``MCPServer`` and its extension interface
(``tasks_test_server``).

Held here: the handle a client gets names a task id the gateway minted (never the
server's), bound to the key in the database; ``tasks/get``, ``tasks/update`` and
``tasks/cancel`` reach the server's task under its own id, from a process that never
saw the task (the binding read back from the database, a new connection to the
server); another key's task is an unknown task, as an id never given; ``Mcp-Name``
must name the task; a client that did not declare the extension gets the tool's
result as ever (the gateway follows the task); a completed task's result passes the
call's result guardrails."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator
from typing import Any, Literal

import httpx2
import mcp_types as types
import pytest
from asgiref.sync import sync_to_async
from mcp import Client
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.jsonrpc import HEADER_MISMATCH
from pydantic import ConfigDict

from gateway.access import registry
from gateway.base.entries import MASTER, KeyEntry, McpServerEntry, Snapshot
from gateway.features.mcp import endpoint, pool, tasks
from tests.gateway.features.mcp.tasks_test_server import EXTENSION, running_tasks_server

MODERN = "2026-07-28"
ALICE = "sy-tasks-alice-key"
BOB = "sy-tasks-bob-key"  # the same grants, another key
NONE = "sy-tasks-none-key"  # no grant of the server


# --- the client's side of the extension, as an application would write it -------------


class Handle(types.Result):
    model_config = ConfigDict(extra="allow")
    result_type: Literal["task"] = "task"
    task_id: str
    status: str


class Task(types.Result):
    model_config = ConfigDict(extra="allow")
    task_id: str
    status: str
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    input_requests: dict[str, Any] | None = None


class TaskIdParams(types.RequestParams):
    task_id: str


class UpdateParams(TaskIdParams):
    input_responses: dict[str, Any]


class Get(types.Request[TaskIdParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"


class Update(types.Request[UpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class Cancel(types.Request[TaskIdParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class Empty(types.Result):
    model_config = ConfigDict(extra="allow")


async def _never(handle: Handle, ctx: ClaimContext) -> types.CallToolResult:
    raise AssertionError("the test takes the handle itself")


class Tasks(ClientExtension):
    identifier = EXTENSION

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=Handle, resolve=_never)]


# --- fixtures ---------------------------------------------------------------------------------


Seen = list[tuple[str, dict[str, Any], dict[str, str]]]


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, Any, Seen]]:
    seen: Seen = []
    with running_tasks_server(seen) as (url, receiver):
        yield url, receiver, seen


def _key(n: int, raw: str, *allowed: str) -> tuple[str, KeyEntry]:
    entry = dataclasses.replace(
        MASTER, id=n, name=f"k{n}", prefix=raw[:8], mcp_allowed=frozenset(allowed)
    )
    return hashlib.sha256(raw.encode()).hexdigest(), entry


@pytest.fixture
async def gateway(upstream, settings, snapshot_reset):  # type: ignore[no-untyped-def]
    from gateway.models import McpServer

    url, receiver, seen = upstream
    settings.SWITCHYARD_MASTER_KEY = "sy-tasks-master-key"
    row = await sync_to_async(McpServer.objects.create)(name="jobs", url=url)
    entry = McpServerEntry(
        id=row.id, name="jobs", transport="streamable_http", url=url, headers=(), bearer="",
        command="", args=(), env=(), enabled=True, connect_timeout=10, call_timeout=10,
    )  # fmt: skip
    registry.install(
        Snapshot(
            version=1,
            keys=dict([_key(1, ALICE, "jobs"), _key(2, BOB, "jobs"), _key(3, NONE, "other")]),
            mcp_servers={"jobs": entry},
        )
    )
    seen.clear()
    tasks.forget()
    yield receiver, seen
    tasks.forget()
    await endpoint.aclose()
    await pool.aclose()


def _http(key: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(
        transport=httpx2.ASGITransport(app=endpoint.app),
        base_url="http://gateway",
        headers={"Authorization": f"Bearer {key}"},
        timeout=30,
    )


def _client(key: str, *, extension: bool = True, mode: str = "auto") -> Client:
    return Client(
        streamable_http_client("http://gateway/mcp", http_client=_http(key)),
        mode=mode,
        extensions=[Tasks()] if extension else None,
    )


async def _start(client: Client, tool: str, arguments: dict[str, Any]) -> Handle:
    await client.list_tools()
    handle = await client.session.call_tool(tool, arguments, allow_claimed=True)
    assert isinstance(handle, Handle), handle
    return handle


async def _get(client: Client, task_id: str) -> Task:
    return await client.session.send_request(Get(params=TaskIdParams(task_id=task_id)), Task)


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
async def test_a_task_is_relayed_under_the_gateways_id_and_polled_to_its_result(gateway):  # type: ignore[no-untyped-def]
    from gateway.models import McpTask

    receiver, seen = gateway
    async with _client(ALICE) as client:
        assert client.protocol_version == MODERN
        assert EXTENSION in (client.server_capabilities.extensions or {})
        handle = await _start(client, "jobs__slow_add", {"a": 2, "b": 3})
        assert handle.task_id.startswith("task_") and handle.status == "working"
        assert handle.task_id not in receiver.tasks  # the server's own id stays inside
        first = await _get(client, handle.task_id)
        assert first.status == "working" and first.task_id == handle.task_id
        done = await _get(client, handle.task_id)
    assert done.status == "completed" and done.task_id == handle.task_id
    assert done.result is not None and done.result["content"][0]["text"] == "5"
    row = await sync_to_async(McpTask.objects.get)(task_id=handle.task_id)
    assert row.key_id == 1 and row.tool == "slow_add" and row.upstream_task_id in receiver.tasks
    assert row.expires_at is not None  # the server's ttlMs
    # the server was asked under its own id, its Mcp-Name naming it
    gets = [(p, h) for m, p, h in seen if m == "tasks/get"]
    assert gets and all(p["taskId"] == row.upstream_task_id for p, _ in gets)
    assert all(h.get("mcp-name") == row.upstream_task_id for _, h in gets)


@pytest.mark.django_db(transaction=True)
async def test_a_poll_through_another_instance_reaches_the_same_task(gateway):  # type: ignore[no-untyped-def]
    async with _client(ALICE) as client:
        handle = await _start(client, "jobs__slow_add", {"a": 20, "b": 22})
    # another instance: nothing of this process's memory, a new connection upstream
    tasks.forget()
    await pool.aclose()
    async with _client(ALICE) as elsewhere:
        await _get(elsewhere, handle.task_id)
        done = await _get(elsewhere, handle.task_id)
    assert done.status == "completed"
    assert done.result is not None and done.result["content"][0]["text"] == "42"


@pytest.mark.django_db(transaction=True)
async def test_another_keys_task_is_an_unknown_task(gateway):  # type: ignore[no-untyped-def]
    receiver, seen = gateway
    async with _client(ALICE) as alice:
        handle = await _start(alice, "jobs__forever", {})
    before = len(seen)
    async with _client(BOB) as bob:
        refusals = []
        for send in (
            lambda: _get(bob, handle.task_id),
            lambda: bob.session.send_request(
                Cancel(params=TaskIdParams(task_id=handle.task_id)), Empty
            ),
            lambda: bob.session.send_request(
                Update(params=UpdateParams(task_id=handle.task_id, input_responses={})), Empty
            ),
            lambda: _get(bob, "task_" + "x" * 32),  # an id never given
        ):
            with pytest.raises(MCPError) as refused:
                await send()
            refusals.append((refused.value.code, refused.value.message))
    assert len(set(refusals)) == 1, refusals  # the same answer: nothing learnt
    assert refusals[0] == (types.INVALID_PARAMS, "unknown task")
    assert len(seen) == before  # nothing reached the server
    # a key that may not reach the server at all: the same
    async with _client(NONE) as none:
        with pytest.raises(MCPError, match="unknown task"):
            await _get(none, handle.task_id)
    # still Alice's, still running
    async with _client(ALICE) as alice:
        assert (await _get(alice, handle.task_id)).status == "working"


@pytest.mark.django_db(transaction=True)
async def test_input_a_task_asks_for_goes_through_tasks_update(gateway):  # type: ignore[no-untyped-def]
    receiver, seen = gateway
    async with _client(ALICE) as client:
        handle = await _start(client, "jobs__greet", {})
        asking = await _get(client, handle.task_id)
        assert asking.status == "input_required"
        assert asking.model_extra is not None
        requests = asking.model_extra.get("inputRequests") or asking.input_requests
        assert requests["name"]["method"] == "elicitation/create"
        answer = {"name": {"action": "accept", "content": {"name": "Ada"}}}
        await client.session.send_request(
            Update(params=UpdateParams(task_id=handle.task_id, input_responses=answer)), Empty
        )
        done = await _get(client, handle.task_id)
    assert done.status == "completed"
    assert done.result is not None and done.result["content"][0]["text"] == "hello Ada"
    updates = [p for m, p, _ in seen if m == "tasks/update"]
    assert updates and updates[-1]["inputResponses"] == answer


@pytest.mark.django_db(transaction=True)
async def test_a_failed_task_and_a_cancelled_one(gateway):  # type: ignore[no-untyped-def]
    receiver, seen = gateway
    async with _client(ALICE) as client:
        failing = await _start(client, "jobs__boom", {})
        failed = await _get(client, failing.task_id)
        running = await _start(client, "jobs__forever", {})
        await client.session.send_request(
            Cancel(params=TaskIdParams(task_id=running.task_id)), Empty
        )
        cancelled = await _get(client, running.task_id)
    assert failed.status == "failed"
    assert failed.error == {"code": -32603, "message": "the fuse blew"}
    assert cancelled.status == "cancelled"
    cancels = [p["taskId"] for m, p, _ in seen if m == "tasks/cancel"]
    assert len(cancels) == 1 and cancels[0] in receiver.tasks


@pytest.mark.django_db(transaction=True)
async def test_a_client_without_the_extension_gets_the_result(gateway):  # type: ignore[no-untyped-def]
    receiver, seen = gateway
    async with _client(ALICE, extension=False) as modern:
        assert modern.protocol_version == MODERN
        summed = await modern.call_tool("jobs__slow_add", {"a": 1, "b": 2})
        greeted = await modern.call_tool("jobs__greet", {})
    async with _client(ALICE, extension=False, mode="legacy") as legacy:
        assert legacy.protocol_version != MODERN
        legacy_sum = await legacy.call_tool("jobs__slow_add", {"a": 3, "b": 4})
    assert summed.content[0].text == "3" and not summed.is_error  # type: ignore[union-attr]
    assert legacy_sum.content[0].text == "7"  # type: ignore[union-attr]
    # the server made tasks (the gateway declares the extension) and the gateway followed them
    assert sum(1 for m, _, _ in seen if m == "tasks/get") >= 4
    # a task that wants input this caller cannot give: cancelled, a tool error
    assert greeted.is_error
    assert "input" in greeted.content[0].text  # type: ignore[union-attr]
    assert any(m == "tasks/cancel" for m, _, _ in seen)


@pytest.mark.django_db(transaction=True)
async def test_mcp_name_must_name_the_task(gateway):  # type: ignore[no-untyped-def]
    async with _client(ALICE) as client:
        handle = await _start(client, "jobs__slow_add", {"a": 1, "b": 1})
    body = {
        "jsonrpc": "2.0", "id": 7, "method": "tasks/get",
        "params": {
            "taskId": handle.task_id,
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": MODERN,
                "io.modelcontextprotocol/clientCapabilities": {"extensions": {EXTENSION: {}}},
            },
        },
    }  # fmt: skip
    headers = {
        "mcp-protocol-version": MODERN,
        "mcp-method": "tasks/get",
        "accept": "application/json, text/event-stream",
    }
    async with _http(ALICE) as raw:
        wrong = await raw.post("/mcp", json=body, headers={**headers, "mcp-name": "task_other"})
        right = await raw.post("/mcp", json=body, headers={**headers, "mcp-name": handle.task_id})
    assert wrong.json()["error"]["code"] == HEADER_MISMATCH, wrong.text
    assert right.json()["result"]["taskId"] == handle.task_id, right.text
    assert right.json()["result"]["ttlMs"] == 60_000


@pytest.mark.django_db(transaction=True)
async def test_a_completed_tasks_result_passes_the_result_guardrails(gateway, monkeypatch):  # type: ignore[no-untyped-def]
    from gateway import journal
    from gateway.base import hooks
    from gateway.base.entries import GuardrailEntry
    from gateway.features.guardrails.plugin import MCP

    hooks.mcp_guards.register(MCP)  # as GatewayConfig.ready does (a no-op when it did)
    blocking = GuardrailEntry(
        id=77, name="no-secrets", kind="litellm_content_filter",
        modes=frozenset({"pre_mcp_call"}),
        params={"blocked_words": [{"keyword": "4471", "action": "BLOCK"}]},
    )  # fmt: skip
    snapshot = registry.current()
    guarded_alice = dataclasses.replace(
        snapshot.keys[_key(1, ALICE)[0]], guardrails=("no-secrets",)
    )
    registry.install(
        dataclasses.replace(
            snapshot,
            version=2,
            keys={**snapshot.keys, _key(1, ALICE)[0]: guarded_alice},
            guardrails={"no-secrets": blocking},
        )
    )
    rows: list[journal.Record] = []
    journal.subscribe(rows.append)
    try:
        async with _client(ALICE) as client:
            handle = await _start(client, "jobs__slow_add", {"a": 4000, "b": 471})
            await _get(client, handle.task_id)
            done = await _get(client, handle.task_id)
    finally:
        journal.unsubscribe(rows.append)
    assert done.status == "completed" and done.result is not None
    assert done.result.get("isError") is True
    text = done.result["content"][0]["text"]
    assert "no-secrets" in text and "4471" not in text
    # the call's journal row: one, finished as a task, naming the gateway's id
    (row,) = [r for r in rows if r.dialect == "mcp" and r.upstream_model == "slow_add"]
    assert row.finish_reason == "task" and row.status == 200
    assert row.outbound_response is not None
    assert row.outbound_response["taskId"] == handle.task_id
