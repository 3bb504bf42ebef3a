"""What the bill reconciliation plugs in (``gateway.features.billing.plugin``): its daily
loop, a background task of the worker role that is the runner module's ``run_forever``,
and the bills' admin keys as operator secrets (redacted like the master key)."""

from __future__ import annotations

import asyncio

import pytest

from gateway.base import hooks, process_role
from gateway.features.billing import plugin, runner, sources


def test_the_loop_is_a_worker_task_and_the_admin_keys_operator_secrets() -> None:
    assert plugin.RECONCILIATION in list(hooks.background_tasks)
    assert plugin.RECONCILIATION.name == "bill-reconciliation"
    assert plugin.RECONCILIATION.roles == process_role.WORKER
    assert plugin._admin_keys in list(hooks.operator_secrets)


def test_the_task_runs_the_runners_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    ran: list[str] = []

    async def run_forever() -> None:
        ran.append("billing")

    monkeypatch.setattr(runner, "run_forever", run_forever)
    asyncio.run(plugin.RECONCILIATION.run())
    assert ran == ["billing"]


def test_the_operator_secrets_are_the_sources_admin_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sources, "admin_keys", lambda: ["sk-admin-1"])
    assert plugin._admin_keys() == ["sk-admin-1"]
