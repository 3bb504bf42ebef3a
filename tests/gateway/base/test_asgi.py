"""``gateway.base.asgi``: the wait for a client to leave reads every message up to its
``http.disconnect`` and no further."""

from __future__ import annotations

import asyncio

from gateway.base import asgi


async def test_until_disconnect_reads_up_to_the_client_leaving() -> None:
    messages: list[asgi.Message] = [
        {"type": "http.request", "body": b"more", "more_body": True},
        {"type": "http.request", "body": b""},
        {"type": "http.disconnect"},
        {"type": "never read"},
    ]
    read: list[str] = []

    async def receive() -> asgi.Message:
        message = messages.pop(0)
        read.append(message["type"])
        return message

    await asyncio.wait_for(asgi.until_disconnect(receive), 1)
    assert read == ["http.request", "http.request", "http.disconnect"]
    assert messages == [{"type": "never read"}]
