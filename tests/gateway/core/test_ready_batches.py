"""gateway.core.ready_batches: an async generator's items grouped by what it produced
without waiting, with its exceptions, cancellation and clean-up intact."""

from __future__ import annotations

import asyncio

import pytest

from gateway.core.ready_batches import ready_batches


async def collect(batches) -> list[list[int]]:  # type: ignore[no-untyped-def]
    return [batch async for batch in batches]


async def test_items_ready_together_come_together_and_a_wait_splits_them() -> None:
    gate = asyncio.Event()

    async def items():
        yield 1
        yield 2
        await gate.wait()
        yield 3
        await asyncio.sleep(0)  # any suspension is a wait
        yield 4
        yield 5

    asyncio.get_running_loop().call_later(0.01, gate.set)
    assert await collect(ready_batches(items())) == [[1, 2], [3], [4, 5]]


async def test_a_batch_is_handed_on_before_the_wait_ends() -> None:
    gate = asyncio.Event()
    seen: list[list[int]] = []

    async def items():
        yield 1
        await gate.wait()
        yield 2

    async def consume() -> None:
        async for batch in ready_batches(items()):
            seen.append(batch)

    task = asyncio.ensure_future(consume())
    await asyncio.sleep(0.01)
    assert seen == [[1]]  # not held back until the generator's next item
    gate.set()
    await task
    assert seen == [[1], [2]]


async def test_nothing_from_an_empty_generator() -> None:
    async def items():
        return
        yield

    assert await collect(ready_batches(items())) == []


@pytest.mark.parametrize("wait_first", [False, True])
async def test_items_before_an_exception_come_first_then_it_is_raised(wait_first: bool) -> None:
    async def items():
        yield 1
        if wait_first:
            await asyncio.sleep(0)
        yield 2
        raise ValueError("broken")

    seen: list[list[int]] = []
    with pytest.raises(ValueError, match="broken"):
        async for batch in ready_batches(items()):
            seen.append(batch)
    assert seen == ([[1], [2]] if wait_first else [[1, 2]])


async def test_closing_while_the_generator_waits_cancels_the_wait_and_runs_its_cleanup() -> None:
    events: list[str] = []

    async def items():
        try:
            yield 1
            await asyncio.Event().wait()  # never set: an upstream that went quiet
            yield 2
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        finally:
            await asyncio.sleep(0)  # clean-up that itself waits
            events.append("cleaned")

    batches = ready_batches(items())
    assert await batches.__anext__() == [1]
    await batches.aclose()
    assert events == ["cancelled", "cleaned"]


async def test_cancelling_the_consumer_cancels_the_generators_wait() -> None:
    events: list[str] = []
    started = asyncio.Event()

    async def items():
        try:
            started.set()
            await asyncio.sleep(10)
            yield 1
        finally:
            events.append("cleaned")

    async def consume() -> None:
        async for _ in ready_batches(items()):
            pass

    task = asyncio.ensure_future(consume())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert events == ["cleaned"]


async def test_values_sent_through_a_wait_reach_the_generator() -> None:
    """A wait on a future that completes with a value (a read) resumes with it."""
    loop = asyncio.get_running_loop()

    async def items():
        for n in range(3):
            future = loop.create_future()
            loop.call_soon(future.set_result, n * 10)
            yield await future

    assert await collect(ready_batches(items())) == [[0], [10], [20]]


async def test_a_window_hands_on_a_long_burst_in_pieces() -> None:
    import time

    async def items():
        for n in range(6):
            until = time.perf_counter() + 0.004  # busy work, no wait: all six are ready
            while time.perf_counter() < until:
                pass
            yield n

    batches = await collect(ready_batches(items(), window=0.01))
    assert [n for batch in batches for n in batch] == list(range(6))
    assert 2 <= len(batches) <= 4  # a batch closes once its first item waited 10 ms


async def test_hand_on_when_cuts_the_first_batch_once_it_says_so() -> None:
    seen: list[int] = []

    async def items():
        for n in range(6):
            seen.append(n)
            yield n

    batches = await collect(ready_batches(items(), hand_on_when=lambda: 2 in seen))
    assert batches == [[0, 1], [2, 3, 4, 5]]  # before the item it named, then never again
