"""The server tool loop as an extra job of the chat job (``hooks.extra_jobs``). Light on
purpose: a request without server tools costs one attribute read; the pipeline is
imported on the first that has some."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks, lazy_import

PIPELINE = "gateway.features.server_tools.pipeline"


class ServerTools:
    async def takes(self, job: Any, route: Any) -> bool:
        request = job.request
        if request is None or not request.server_tools:
            return False
        pipeline = await lazy_import.loaded(PIPELINE)
        taken: bool = pipeline.takes(job, route)
        return taken

    async def respond(self, job: Any, route: Any) -> Any:
        pipeline = await lazy_import.loaded(PIPELINE)
        return await pipeline.respond(job, route)


SERVER_TOOLS = ServerTools()


def register() -> None:
    hooks.extra_jobs.register(SERVER_TOOLS)
