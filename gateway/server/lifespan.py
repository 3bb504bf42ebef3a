"""The ASGI lifespan protocol (uvicorn, granian): start-up and shutdown of this process
run the lifecycle's sequence (``gateway.base.lifecycle``). In ``server`` because only
the process speaks it: ``gateway.server.asgi`` routes the ``lifespan`` scope here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from gateway.base import lifecycle


async def lifespan(
    scope: dict[str, Any],
    receive: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[dict[str, Any]], Awaitable[None]],
) -> None:
    """ASGI lifespan protocol (uvicorn, granian)."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                await lifecycle.ensure_started()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": str(exc)})
                return
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await lifecycle.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
