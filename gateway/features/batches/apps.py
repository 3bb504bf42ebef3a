"""Batches and files as a unit (``gateway.web.units``): the batch runner (gateway-run
batches, native batches' polling) and the files' pruning, each a worker's background
task, one per process, started once there is work; the signed links to files an answer
names (``hooks.file_links``). The runners are imported when a serving process starts
them: they pull in the request stack, which a management command never needs."""

from __future__ import annotations

from gateway.web.units import Unit


class BatchesConfig(Unit):
    name = "gateway.features.batches"
    label = "batches"
    verbose_name = "Switchyard batches and files"

    def register(self) -> None:
        from gateway.base import hooks, process_role
        from gateway.features.batches.files import links
        from gateway.models.batches import Batch

        hooks.background_tasks.register(
            hooks.BackgroundTask("batch-runner", _run_batches, process_role.WORKER, jobs=(Batch,))
        )
        # expired files and cut-off uploads, hourly (uploads expire without batches too)
        hooks.background_tasks.register(
            hooks.BackgroundTask("file-pruning", _prune_files, process_role.WORKER)
        )
        hooks.file_links.register(links.keep)  # signed links to images answered by URL


async def _run_batches() -> None:
    from gateway.features.batches import runner

    await runner.run_forever()


async def _prune_files() -> None:
    from gateway.features.batches.files import pruning

    await pruning.prune_forever()
