"""Batches and files as a unit (``gateway.web.units``): ``Unit.register`` calls its
``plugin.register()`` (the batch runner, the files' pruning, the signed links)."""

from gateway.web.units import Unit


class BatchesConfig(Unit):
    name = "gateway.features.batches"
    label = "batches"
