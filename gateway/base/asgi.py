"""The ASGI callables' types, as the edge, the realtime relays and Gemini Live name them:
a connection's ``scope``, one ``message``, the ``receive``/``send`` pair and an app; and
the wait for a client to leave."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


async def until_disconnect(receive: Receive) -> None:
    """Return when the client has gone (``http.disconnect``), reading what else comes."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
