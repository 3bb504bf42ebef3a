"""What budget alerts plug in (``gateway.features.alerts.plugin``): their loop, a
background task of the worker role that is the runner module's ``run_forever``, and the
delivery of other features' notices (a bill that drifted) to the alert channels."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.base import hooks, process_role
from gateway.features.alerts import delivery, plugin, runner


def test_the_loop_is_a_worker_task_and_notices_go_to_delivery() -> None:
    assert plugin.ALERTS in list(hooks.background_tasks)
    assert plugin.ALERTS.name == "budget-alerts" and plugin.ALERTS.jobs == ()
    assert plugin.ALERTS.roles == process_role.WORKER
    assert plugin._deliver_notice in list(hooks.notices)


def test_the_task_runs_the_runners_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    async def run_forever() -> None:
        ran.append("alerts")

    monkeypatch.setattr(runner, "run_forever", run_forever)
    asyncio.run(plugin.ALERTS.run())
    assert ran == ["alerts"]


def test_a_notice_is_handed_to_delivery(monkeypatch: pytest.MonkeyPatch) -> None:
    given: list[dict[str, Any]] = []

    async def deliver_notice(notice: dict[str, Any]) -> list[str]:
        given.append(notice)
        return ["webhook: down"]

    monkeypatch.setattr(delivery, "deliver_notice", deliver_notice)
    assert asyncio.run(plugin._deliver_notice({"kind": "x"})) == ["webhook: down"]
    assert given == [{"kind": "x"}]
