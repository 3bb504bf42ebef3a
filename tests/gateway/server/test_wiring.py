"""The composition root (``gateway.server.wiring``): what ``GatewayConfig.ready`` registers, in
the order the process runs it."""

from __future__ import annotations

from gateway import journal
from gateway.access import registry
from gateway.base import hooks
from gateway.limits import limits
from gateway.server import memory_trim, warm_up
from gateway.telemetry import audit, metrics, rollups, spend, tag_spend


def test_the_process_starts_and_stops_in_order() -> None:
    starters = list(hooks.starters)
    ours = [registry.start, memory_trim.start, metrics.start_publishing, journal.start]
    assert [s for s in starters if s in ours] == ours
    drainers = list(hooks.drainers)
    ours = [journal.drain_at_shutdown, metrics.publish_last, limits.return_leases]
    assert [d for d in drainers if d in ours] == ours
    assert warm_up.warm_up in list(hooks.warm_ups)


def test_the_layers_pruners_come_first() -> None:
    first = [rollups.prune_expired, spend.prune_expired, tag_spend.prune_expired]
    assert list(hooks.pruners)[:4] == [*first, audit.prune_expired]


def test_every_unit_registered_its_tasks() -> None:
    """The units' registrations went through (``Unit.register`` from ``compose``): each
    background task of the worker role is there once."""
    names = [task.name for task in hooks.background_tasks]
    for name in ("batch-runner", "file-pruning", "evaluations", "continuous-evaluators"):
        assert names.count(name) == 1, name
    assert "budget-ledger" not in names  # no region set
