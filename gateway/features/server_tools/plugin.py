"""The server tools in the gateway's tool loop (``gateway.core.tool_runner``), an extra
job of the chat job (``hooks.extra_jobs``). Light on purpose: a request without server
tools costs one attribute read; the pipeline is imported on the first that has some."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks, lazy_import
from gateway.core.tool_runner import ToolJob

PIPELINE = "gateway.features.server_tools.pipeline"


class ServerTools(ToolJob):
    async def toolset(self, job: Any, route: Any) -> Any:
        request = job.request
        if request is None or not request.server_tools:
            return None
        pipeline = await lazy_import.loaded(PIPELINE)
        return pipeline.toolset(job, route)


SERVER_TOOLS = ServerTools()


def register() -> None:
    hooks.extra_jobs.register(SERVER_TOOLS)
