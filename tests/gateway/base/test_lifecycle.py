"""The process's life (``gateway.base.lifecycle``): here, the loop a periodic background
task runs in (``every_round``)."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base import lifecycle


class Outage:
    def __init__(self) -> None:
        self.seen: list[str] = []

    def failed(self, exc: Exception) -> None:
        self.seen.append(f"failed: {exc}")

    def recovered(self) -> None:
        self.seen.append("recovered")


async def test_a_failed_round_is_an_outage_and_the_loop_goes_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    steps: list[Any] = [RuntimeError("database away"), "ok", "last"]
    waits: list[float] = []

    async def round_once() -> None:
        step = steps.pop(0)
        if isinstance(step, Exception):
            raise step
        if step == "last":  # the process begins to close: no round after this one
            monkeypatch.setattr(lifecycle, "_closing", True)

    def seconds() -> float:
        waits.append(0.0)
        return 0.0

    outage = Outage()
    await lifecycle.every_round(outage, round_once, seconds)  # type: ignore[arg-type]
    assert outage.seen == ["failed: database away", "recovered", "recovered"]
    assert steps == [] and len(waits) == 3  # a wait after every round, the period read each time
