"""Migration tests' steps: the test database moved to a point in the history.

Walking from the latest migration back to an old one and forward again renders every
model state on the way (Django's ``reload_model``: seconds a walk on this machine), so a
test checks a migration one step forward and one back from the point before it, with
the models as they were there, and walks to the latest only to leave the database as
the next test expects it (or to read the rows with today's models)."""

from __future__ import annotations

from django.apps.registry import Apps
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

Targets = list[tuple[str, str]]


def _executor() -> MigrationExecutor:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    return executor


def at(targets: Targets) -> Apps:
    """Move the test database to ``targets``; the models as they were there."""
    executor = _executor()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def latest() -> None:
    """Move the test database to the latest migration of every app (where tests expect it)."""
    executor = _executor()
    executor.migrate(executor.loader.graph.leaf_nodes())
