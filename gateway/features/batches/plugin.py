"""What batches and files plug in (``gateway.base.hooks``), from ``Unit.register``: the
batch runner and the files' pruning, worker tasks whose modules (the request stack) are
imported when a serving process starts them; the signed links to files an answer names."""

from __future__ import annotations

from gateway.base import hooks, lazy_import, process_role
from gateway.features.batches.files import links
from gateway.models.batches import Batch

RUNNER = hooks.BackgroundTask(
    "batch-runner",
    lazy_import.function("gateway.features.batches.runner:run_forever"),
    process_role.WORKER,
    jobs=(Batch,),
)
# expired files and cut-off uploads, hourly
PRUNING = hooks.BackgroundTask(
    "file-pruning",
    lazy_import.function("gateway.features.batches.files.pruning:prune_forever"),
    process_role.WORKER,
)


def register() -> None:
    hooks.background_tasks.register(RUNNER)
    hooks.background_tasks.register(PRUNING)
    hooks.file_links.register(links.keep)  # signed links to images answered by URL
