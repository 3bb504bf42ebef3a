"""What the MCP feature plugs into the pipeline (``gateway.base.hooks``), registered
from ``GatewayConfig.ready``: the hosted MCP tools' answer to a chat request
(``extra_jobs``). Light on purpose: ``ready`` runs in every management command, so the
hosted loop and the pipeline it drives (``gateway.mcp.hosted.pipeline``) are imported
when a request first asks, in a serving process."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks


class HostedTools:
    """The hosted MCP loop as an extra job of the chat job (``hooks.extra_jobs``)."""

    def takes(self, job: Any, route: Any) -> bool:
        from gateway.mcp.hosted import pipeline

        return pipeline.takes(job, route)

    async def respond(self, job: Any, route: Any) -> Any:
        from gateway.mcp.hosted import pipeline

        return await pipeline.respond(job, route)


HOSTED_TOOLS = HostedTools()


def register() -> None:
    hooks.extra_jobs.register(HOSTED_TOOLS)
