"""What batches plug in (``gateway.features.batches.plugin``): the batch runner, dormant
until a batch waits, the files' pruning, and the signed links."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base import hooks, process_role
from gateway.features.batches import plugin, runner
from gateway.features.batches.files import links
from gateway.models.batches import Batch


def test_the_runner_and_the_pruning_are_worker_tasks() -> None:
    assert plugin.RUNNER in list(hooks.background_tasks)
    assert plugin.PRUNING in list(hooks.background_tasks)
    assert plugin.RUNNER.jobs == (Batch,) and plugin.PRUNING.jobs == ()
    assert plugin.RUNNER.roles == plugin.PRUNING.roles == process_role.WORKER
    assert links.keep in list(hooks.file_links)


def test_the_runner_is_the_runner_module_s_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    async def run_forever() -> None:
        ran.append("batches")

    monkeypatch.setattr(runner, "run_forever", run_forever)
    asyncio.run(plugin.RUNNER.run())
    assert ran == ["batches"]
