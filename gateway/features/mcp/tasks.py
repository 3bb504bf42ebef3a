"""The tasks extension (``io.modelcontextprotocol/tasks``, MCP 2026-07-28): a server may
answer a ``tools/call`` with a task handle (``resultType: "task"``) instead of its
result, and the client polls ``tasks/get`` until the task ends, answers what the task
asks with ``tasks/update`` and may ``tasks/cancel`` it. The extension defines those
three methods only (no ``tasks/list``, no ``tasks/result``: the result comes inline in
``tasks/get``); the 2025-11-25 tasks of the core protocol are not relayed.

How the gateway relays them:

- **Upstream**, the pool's 2026-07-28 connections declare the extension (``Upstream``,
  an SDK client extension claiming the ``task`` result). A task answered to a call
  whose client did not declare the extension (a 2025-11-25 client, a 2026-07-28 one
  without it, the console, the hosted tools) is followed by the gateway itself
  (``follow``: ``tasks/get`` at the server's ``pollIntervalMs`` until it ends, within
  the server's call timeout), so that caller gets the tool's result as ever.
- **Downstream**, a 2026-07-28 client that declared the extension on its call gets the
  handle, with a task id the gateway minted (``bind``: random, never the server's),
  stored with the server's id and the key (and team) that called (``McpTask``, in the
  database, so every worker of every instance finds it). ``tasks/get``,
  ``tasks/update`` and ``tasks/cancel`` look the id up (``find``): a task of another
  key, or one whose tool the key may no longer call, or on another server than
  ``/mcp/<server>``'s, is a task that does not exist (the same error as an unknown id:
  no key learns that another's task exists). Then the request goes to the server under
  the server's id, and the answer comes back under the gateway's. A completed task's
  result passes the call's result guardrails (a refusal: the result becomes a tool
  error naming it), as the call's own result would have.

A binding never changes once made, so each process keeps the ones it looked up
(``_CACHE``): a poll costs one database read per task per process, not one per poll."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import mcp_types as types
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS
from pydantic import ConfigDict
from pydantic.alias_generators import to_camel

from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.models.mcp import McpTask

log = logging.getLogger(__name__)

EXTENSION = "io.modelcontextprotocol/tasks"
TERMINAL = frozenset({"completed", "failed", "cancelled"})
MIN_POLL_SECONDS = 0.05  # how often the gateway polls a task it follows, at most
MAX_POLL_SECONDS = 5.0  # and at least
DEFAULT_POLL_SECONDS = 0.5  # when the server suggests nothing
CACHE_SIZE = 10_000  # bindings each process remembers
ID_PREFIX = "task_"
UNKNOWN = "unknown task"


class _Wire(types.Result):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")


class TaskHandle(_Wire):
    """``CreateTaskResult``: what a server answers a call with when it made a task."""

    result_type: Literal["task"] = "task"
    task_id: str
    status: str = "working"
    status_message: str | None = None
    created_at: str | None = None
    last_updated_at: str | None = None
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class DetailedTask(_Wire):
    """``tasks/get``'s answer: the task, with its ``result``, ``error`` or
    ``inputRequests`` as its status has them (other fields pass as they are)."""

    task_id: str
    status: str
    poll_interval_ms: int | None = None
    ttl_ms: int | None = None
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class TaskParams(types.RequestParams):
    """The params of ``tasks/get`` and ``tasks/cancel``."""

    task_id: str


class UpdateParams(TaskParams):
    """The params of ``tasks/update``: answers to the task's ``inputRequests``."""

    input_responses: dict[str, Any]


class GetTask(types.Request[TaskParams, Literal["tasks/get"]]):
    method: Literal["tasks/get"] = "tasks/get"
    name_param = "taskId"  # the extension's Mcp-Name


class UpdateTask(types.Request[UpdateParams, Literal["tasks/update"]]):
    method: Literal["tasks/update"] = "tasks/update"
    name_param = "taskId"


class CancelTask(types.Request[TaskParams, Literal["tasks/cancel"]]):
    method: Literal["tasks/cancel"] = "tasks/cancel"
    name_param = "taskId"


class Ack(_Wire):
    """The empty acknowledgement of ``tasks/update`` and ``tasks/cancel``."""


def declared(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether a request's client declared the extension."""
    return capabilities is not None and EXTENSION in (capabilities.extensions or {})


def offered(capabilities: types.ServerCapabilities | None) -> bool:
    """Whether a server declared the extension."""
    return capabilities is not None and EXTENSION in (capabilities.extensions or {})


# --- upstream: following a task for a caller that cannot ------------------------------------


def _poll_seconds(milliseconds: int | None) -> float:
    if milliseconds is None:
        return DEFAULT_POLL_SECONDS
    return min(max(milliseconds / 1000, MIN_POLL_SECONDS), MAX_POLL_SECONDS)


def error_result(message: str) -> types.CallToolResult:
    """A tool result that is an error the model can read (``isError``)."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


async def follow(handle: TaskHandle, session: ClientSession) -> types.CallToolResult:
    """The result of the task ``handle`` names, polled on the server's ``session`` until
    it ends: completed, its result; failed, its JSON-RPC error raised; cancelled, a tool
    error. A task that asks for input cannot be answered for this caller: it is
    cancelled and the call is a tool error saying so. Bounded by the caller's timeout."""
    wait = _poll_seconds(handle.poll_interval_ms)
    status = handle.status
    while True:
        if status not in TERMINAL and status != "input_required":
            await asyncio.sleep(wait)
        task = await session.send_request(
            GetTask(params=TaskParams(task_id=handle.task_id)), DetailedTask
        )
        status = task.status
        wait = _poll_seconds(task.poll_interval_ms or handle.poll_interval_ms)
        if status == "completed":
            return types.CallToolResult.model_validate(task.result or {"content": []})
        if status == "failed":
            error = task.error or {}
            code = error.get("code")
            raise MCPError(
                code if isinstance(code, int) else INTERNAL_ERROR,
                str(error.get("message") or "the task failed"),
            )
        if status == "cancelled":
            return error_result("the task was cancelled")
        if status == "input_required":
            try:
                await session.send_request(
                    CancelTask(params=TaskParams(task_id=handle.task_id)), Ack
                )
            except MCPError as exc:
                log.debug("MCP task %s: cancel refused: %s", handle.task_id, exc)
            return error_result("the task asked for input this caller cannot give")


async def _resolve(handle: TaskHandle, ctx: ClaimContext) -> types.CallToolResult:
    return await follow(handle, ctx.session)


class Upstream(ClientExtension):
    """The pool's side of the extension: declared on each 2026-07-28 request, a ``task``
    answer parsed as a ``TaskHandle`` (followed by ``follow`` unless the caller takes
    the handle: ``allow_claimed``)."""

    identifier = EXTENSION

    def claims(self) -> list[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=TaskHandle, resolve=_resolve)]


# --- downstream: the bindings ---------------------------------------------------------------


@dataclass(frozen=True)
class Binding:
    task_id: str  # the gateway's
    server: str
    upstream_id: str
    key_id: int | None  # None: the master key
    tool: str


_CACHE: OrderedDict[str, Binding] = OrderedDict()


def _remember(binding: Binding) -> None:
    _CACHE[binding.task_id] = binding
    _CACHE.move_to_end(binding.task_id)
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)


def forget() -> None:
    """Drop what this process remembers (tests: a poll through another instance)."""
    _CACHE.clear()


def _store(server_id: int, server: str, tool: str, handle: TaskHandle, key: KeyEntry) -> Binding:
    from django.utils import timezone

    task_id = ID_PREFIX + secrets.token_urlsafe(24)
    expires = None
    if handle.ttl_ms is not None and handle.ttl_ms >= 0:
        expires = timezone.now() + timedelta(milliseconds=handle.ttl_ms)
    McpTask.objects.create(
        task_id=task_id,
        server_id=server_id,
        upstream_task_id=handle.task_id[:300],
        key_id=None if key.is_master else key.id,
        team_id=key.team.id if key.team is not None else None,
        tool=tool[:200],
        expires_at=expires,
    )
    return Binding(task_id, server, handle.task_id, None if key.is_master else key.id, tool)


async def bind(
    server_id: int, server: str, tool: str, handle: TaskHandle, key: KeyEntry
) -> TaskHandle:
    """Bind the server's task to ``key`` (durably, before the client hears of it: the
    extension wants a ``tasks/get`` of the id it is given to resolve at once); the
    handle the client gets, under the gateway's id."""
    if len(handle.task_id) > 300:
        raise MCPError(INTERNAL_ERROR, f"MCP server {server}: its task id is too long")
    binding = await db_work.arun(_store, server_id, server, tool, handle, key)
    _remember(binding)
    return handle.model_copy(update={"task_id": binding.task_id})


def _load(task_id: str) -> Binding | None:

    row = (
        McpTask.objects.filter(task_id=task_id)
        .values_list("server__name", "upstream_task_id", "key_id", "tool")
        .first()
    )
    if row is None:
        return None
    server, upstream_id, key_id, tool = row
    return Binding(task_id, server, upstream_id, key_id, tool)


async def find(task_id: str, key: KeyEntry) -> Binding:
    """The binding of ``task_id`` when ``key`` started it (the master key: any);
    else ``MCPError(INVALID_PARAMS, "unknown task")``, as for an id never given."""
    if not task_id.startswith(ID_PREFIX) or len(task_id) > 64:
        raise MCPError(INVALID_PARAMS, UNKNOWN)
    binding = _CACHE.get(task_id)
    if binding is None:
        binding = await db_work.arun(_load, task_id)
        if binding is None:
            raise MCPError(INVALID_PARAMS, UNKNOWN)
        _remember(binding)
    if not key.is_master and binding.key_id != key.id:
        raise MCPError(INVALID_PARAMS, UNKNOWN)
    return binding
