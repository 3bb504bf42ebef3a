"""What the MCP feature plugs into the edge and the pipeline (``gateway.base.hooks``),
registered from the unit's ``register`` (``apps.py``): the ``/mcp`` endpoint's app
(``asgi_apps``), the hosted MCP tools' answer to a chat request (``extra_jobs``) and the
pruning of ended sessions' records and of OAuth authorizations nobody finished
(``pruners``: ``retention``). Light on purpose: ``ready`` runs in every management
command, so the endpoint, the hosted loop and the pipeline it drives
(``hosted.pipeline``) are imported when a request first asks, in a serving process."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks, lazy_import
from gateway.core.tool_runner import ToolJob
from gateway.features.mcp import closing, retention
from gateway.features.mcp.oauth.shared import SHARED

PIPELINE = "gateway.features.mcp.hosted.pipeline"
ENDPOINT = "gateway.features.mcp.endpoint"


async def endpoint_app() -> Any:
    """The ``/mcp`` endpoint's ASGI app (``hooks.asgi_apps``): the MCP SDK comes with
    it, imported off the loop on a worker's first ``/mcp``."""
    endpoint = await lazy_import.loaded(ENDPOINT)
    return endpoint.app


class HostedTools(ToolJob):
    """The hosted MCP tools in the gateway's tool loop, an extra job of the chat job
    (``hooks.extra_jobs``)."""

    async def toolset(self, job: Any, route: Any) -> Any:
        request = job.request
        named = request is not None and request.mcp_servers
        if not named and not route.mcp_servers and not job.call.caller.mcp_servers:
            return None  # no MCP server anywhere: the loop is not even imported
        # the loop brings the MCP SDK: imported off the loop on first use
        pipeline = await lazy_import.loaded(PIPELINE)
        return pipeline.toolset(job, route)


HOSTED_TOOLS = HostedTools()


def register() -> None:
    hooks.asgi_apps.register("mcp", endpoint_app)
    hooks.closers.register(closing.aclose_used)  # sessions and connections, if used
    hooks.extra_jobs.register(HOSTED_TOOLS)
    hooks.upstream_oauth.register(SHARED)  # per-person OAuth to A2A agents
    hooks.pruners.register(retention.prune_ended_sessions)
    hooks.pruners.register(retention.prune_sign_in)
    hooks.pruners.register(retention.prune_pending_authorizations)
    hooks.pruners.register(retention.prune_tasks)
