"""An MCP server with the tasks extension (``io.modelcontextprotocol/tasks``), written
with the official SDK's ``MCPServer`` and its extension interface (the SDK 2.3 has the
interface but no tasks extension of its own): streamable HTTP on 127.0.0.1 in a thread.

Its tools, each answered with a task when the call's client declared the extension,
synchronously otherwise:

- ``slow_add(a, b)``: a task that completes on the second ``tasks/get`` with the sum;
- ``greet()``: a task that asks for a name (``input_required``, an elicitation in
  ``inputRequests``) and completes with ``hello <name>`` once ``tasks/update`` gave it;
- ``boom()``: a task that fails with a JSON-RPC error;
- ``forever()``: a task that works until ``tasks/cancel``.

``seen`` collects ``(method, params, headers)`` of every tasks/* request, so a test sees
which task id reached the server and that ``Mcp-Name`` named it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mcp_types as types
import uvicorn
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.server.extension import Extension, MethodBinding
from mcp.server.mcpserver import MCPServer
from mcp.shared.exceptions import MCPError

from tests.live import free_port

EXTENSION = "io.modelcontextprotocol/tasks"
TASK_TOOLS = frozenset({"slow_add", "greet", "boom", "forever"})
SECRET = "the task's secret is 4471"  # what a guardrail test blocks


class TaskIdParams(types.RequestParams):
    task_id: str


class UpdateParams(TaskIdParams):
    input_responses: dict[str, Any]


@dataclass
class _Task:
    tool: str
    arguments: dict[str, Any]
    created: str
    polls: int = 0
    status: str = "working"
    name: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _now() -> str:
    return datetime.now(UTC).isoformat()


class TasksReceiver(Extension):
    identifier = EXTENSION

    def __init__(self, seen: list[tuple[str, dict[str, Any], dict[str, str]]]) -> None:
        self.tasks: dict[str, _Task] = {}
        self.seen = seen

    def methods(self) -> list[MethodBinding]:
        return [
            MethodBinding("tasks/get", TaskIdParams, self._get),
            MethodBinding("tasks/update", UpdateParams, self._update),
            MethodBinding("tasks/cancel", TaskIdParams, self._cancel),
        ]

    async def intercept_tool_call(
        self,
        params: types.CallToolRequestParams,
        ctx: ServerRequestContext[Any, Any],
        call_next: CallNext,
    ) -> HandlerResult:
        caps = ctx.session.client_capabilities
        declared = caps is not None and EXTENSION in (caps.extensions or {})
        if params.name not in TASK_TOOLS or not declared:
            return await call_next(ctx)
        task_id = f"up-{uuid.uuid4()}"
        task = _Task(params.name, dict(params.arguments or {}), _now())
        self.tasks[task_id] = task
        return {"resultType": "task", **self._shape(task_id, task)}

    def _shape(self, task_id: str, task: _Task) -> dict[str, Any]:
        return {
            "taskId": task_id,
            "status": task.status,
            "createdAt": task.created,
            "lastUpdatedAt": _now(),
            "ttlMs": 60_000,
            "pollIntervalMs": 20,
        }

    def _note(self, ctx: ServerRequestContext[Any, Any], params: Any) -> _Task:
        headers = getattr(ctx.request, "headers", None)
        self.seen.append((ctx.method, params.model_dump(by_alias=True), dict(headers or {})))
        task = self.tasks.get(params.task_id)
        if task is None:
            raise MCPError(types.INVALID_PARAMS, "no such task")
        return task

    async def _get(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> dict[str, Any]:
        task = self._note(ctx, params)
        task.polls += 1
        shape = self._shape(params.task_id, task)
        if task.status == "cancelled":
            return shape
        if task.tool == "slow_add" and task.polls >= 2:
            total = int(task.arguments.get("a", 0)) + int(task.arguments.get("b", 0))
            task.status = "completed"
            text = SECRET if total == 4471 else str(total)
            shape.update(status="completed", result={"content": [{"type": "text", "text": text}]})
        elif task.tool == "greet":
            if task.name is None:
                task.status = "input_required"
                shape.update(
                    status="input_required",
                    inputRequests={
                        "name": {
                            "method": "elicitation/create",
                            "params": {
                                "mode": "form",
                                "message": "Your name?",
                                "requestedSchema": {
                                    "type": "object",
                                    "properties": {"name": {"type": "string"}},
                                    "required": ["name"],
                                },
                            },
                        }
                    },
                )
            else:
                task.status = "completed"
                text = f"hello {task.name}"
                shape.update(
                    status="completed", result={"content": [{"type": "text", "text": text}]}
                )
        elif task.tool == "boom":
            task.status = "failed"
            shape.update(status="failed", error={"code": -32603, "message": "the fuse blew"})
        return shape

    async def _update(
        self, ctx: ServerRequestContext[Any, Any], params: UpdateParams
    ) -> dict[str, Any]:
        task = self._note(ctx, params)
        answer = params.input_responses.get("name")
        if isinstance(answer, dict) and answer.get("action") == "accept":
            task.name = str((answer.get("content") or {}).get("name", ""))
            task.status = "working"
        return {}

    async def _cancel(
        self, ctx: ServerRequestContext[Any, Any], params: TaskIdParams
    ) -> dict[str, Any]:
        task = self._note(ctx, params)
        if task.status not in ("completed", "failed"):
            task.status = "cancelled"
        return {}


def build(
    seen: list[tuple[str, dict[str, Any], dict[str, str]]],
) -> tuple[MCPServer, TasksReceiver]:
    receiver = TasksReceiver(seen)
    server = MCPServer("switchyard-test-tasks", extensions=[receiver])

    @server.tool(structured_output=False)  # a task's result has no structure
    def slow_add(a: int, b: int) -> str:
        """Add two integers, as a task when the client can follow one."""
        return str(a + b)

    @server.tool(structured_output=False)  # a task's result has no structure
    def greet() -> str:
        """Greet whoever asks (as a task, asks their name first)."""
        return "hello stranger"

    @server.tool(structured_output=False)  # a task's result has no structure
    def boom() -> str:
        """Fails."""
        raise RuntimeError("the fuse blew")

    @server.tool(structured_output=False)  # a task's result has no structure
    def forever() -> str:
        """Works until cancelled (as a task)."""
        return "done at once"

    return server, receiver


@contextmanager
def running_tasks_server(
    seen: list[tuple[str, dict[str, Any], dict[str, str]]],
) -> Iterator[tuple[str, TasksReceiver]]:
    """Serve it; yields the endpoint URL and the receiver (its tasks)."""
    server, receiver = build(seen)
    port = free_port()
    config = uvicorn.Config(
        server.streamable_http_app(), host="127.0.0.1", port=port, log_level="warning"
    )
    runner = uvicorn.Server(config)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not runner.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the tasks test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/mcp", receiver
    finally:
        runner.should_exit = True
        thread.join(timeout=10)
