"""The files' pruning loop (``gateway.features.batches.files.pruning``): each round
prunes expired files and abandoned uploads, a round whose database or store is away
does not end the loop, and the next round comes ``PRUNE_SECONDS`` later."""

from __future__ import annotations

import asyncio

import pytest

from gateway.features.batches.files import api, pruning


class Stop(Exception):
    """Ends the loop from its sleep (the loop itself never ends)."""


def test_each_round_prunes_and_a_failure_does_not_end_the_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    rounds: list[str] = []
    slept: list[float] = []

    def prune_expired() -> int:
        rounds.append("expired")
        if len(slept) == 0:
            raise RuntimeError("the database is away")
        return 0

    def prune_abandoned_uploads() -> int:
        rounds.append("abandoned")
        raise OSError("the store is away")

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 2:
            raise Stop

    monkeypatch.setattr(api, "prune_expired", prune_expired)
    monkeypatch.setattr(api, "prune_abandoned_uploads", prune_abandoned_uploads)
    monkeypatch.setattr(pruning.asyncio, "sleep", sleep)
    monkeypatch.setattr(pruning.db_work, "arun", _arun)
    with pytest.raises(Stop):
        asyncio.run(pruning.prune_forever())
    assert rounds == ["expired", "abandoned", "expired", "abandoned"]
    assert slept == [pruning.PRUNE_SECONDS, pruning.PRUNE_SECONDS]


async def _arun(function, *args):  # type: ignore[no-untyped-def]
    return function(*args)
