"""Batches and files as a unit (``gateway.web.units``): the batch runner and the files'
pruning, worker tasks whose modules (the request stack) are imported when a serving
process starts them; the signed links to files an answer names."""

from gateway.web.units import Unit


class BatchesConfig(Unit):
    name = "gateway.features.batches"
    label = "batches"

    def register(self) -> None:
        from gateway.base import hooks, process_role
        from gateway.features.batches.files import links
        from gateway.models.batches import Batch

        worker = process_role.WORKER
        hooks.background_tasks.register(
            hooks.BackgroundTask("batch-runner", _run_batches, worker, jobs=(Batch,))
        )
        hooks.background_tasks.register(hooks.BackgroundTask("file-pruning", _prune, worker))
        hooks.file_links.register(links.keep)  # signed links to images answered by URL


async def _run_batches() -> None:
    from gateway.features.batches import runner

    await runner.run_forever()


async def _prune() -> None:  # expired files and cut-off uploads, hourly
    from gateway.features.batches.files import pruning

    await pruning.prune_forever()
