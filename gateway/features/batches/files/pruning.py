"""Expired files and what cut-off uploads left in the store, removed when a serving
process starts and every hour after: a background task of the worker role
(``gateway.features.batches.plugin``), whether or not batches ever run (uploads expire too). Every worker
prunes: deleting what another worker deleted first is a no-op."""

from __future__ import annotations

import asyncio
import contextlib

from gateway.base import db_work
from gateway.features.batches.files import api

PRUNE_SECONDS = 3600.0


async def prune_forever() -> None:
    """Never raises: a database or store that is away is tried again the next hour."""
    while True:
        with contextlib.suppress(Exception):
            await db_work.arun(api.prune_expired)
        with contextlib.suppress(Exception):
            await asyncio.to_thread(api.prune_abandoned_uploads)
        await asyncio.sleep(PRUNE_SECONDS)
