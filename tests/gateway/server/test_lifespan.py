"""The ASGI lifespan protocol: start-up runs the lifecycle's start (its failure reported
as ``startup.failed`` with its words), shutdown its stop, each answered once."""

from __future__ import annotations

from gateway.base import lifecycle
from gateway.server.lifespan import lifespan


async def speak(*messages: str) -> list[dict]:
    incoming = [{"type": f"lifespan.{m}"} for m in messages]
    sent: list[dict] = []

    async def receive() -> dict:
        return incoming.pop(0)

    async def send(message: dict) -> None:
        sent.append(message)

    await lifespan({"type": "lifespan"}, receive, send)
    return sent


async def test_start_up_then_shutdown(monkeypatch) -> None:
    ran = []

    async def started() -> None:
        ran.append("started")

    async def stopped() -> None:
        ran.append("stopped")

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(lifecycle, "shutdown", stopped)
    sent = await speak("startup", "shutdown")
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    assert ran == ["started", "stopped"]


async def test_a_failed_start_is_reported_and_ends_the_protocol(monkeypatch) -> None:
    async def refuses() -> None:
        raise RuntimeError("database unreachable")

    monkeypatch.setattr(lifecycle, "ensure_started", refuses)
    sent = await speak("startup", "shutdown")  # nothing is read after the failure
    assert sent == [{"type": "lifespan.startup.failed", "message": "database unreachable"}]
