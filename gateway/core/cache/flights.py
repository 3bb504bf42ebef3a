"""Single flight: identical requests arriving together on a cached route make one upstream
call. The first to miss leads; the others wait for its answer and are served it as a
cache hit.

- In one process, followers await the leader's future (keyed by cache key).
- With Redis, the leader of each process also takes a short lock (``SET NX PX``); a
  process whose leader finds the lock taken polls Redis for the answer instead of
  calling, and its own followers wait on it.

Followers wait at most ``SWITCHYARD_CACHE_FLIGHT_WAIT_SECONDS`` (0: no single flight).
When the leader ends without an answer to keep (an upstream error, its client left,
an error finish), its followers are released and call the upstream themselves: an
error is never cached, and the leader's failure may be its own (its client, its
deadline, the fallbacks its key may use), so handing it to others would be wrong. A
follower left waiting longer than the bound proceeds on its own the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.conf import settings

# cache key -> the answer (encoded) of this process's leader, or None when it failed
_flights: dict[str, asyncio.Future[bytes | None]] = {}


def wait_seconds() -> float:
    return float(getattr(settings, "SWITCHYARD_CACHE_FLIGHT_WAIT_SECONDS", 0) or 0)


def joinable(key: str) -> asyncio.Future[bytes | None] | None:
    """This process's flight for ``key`` on the running loop, if one is under way."""
    flight = _flights.get(key)
    if flight is None:
        return None
    if flight.get_loop() is not asyncio.get_running_loop():  # left by another loop (tests)
        del _flights[key]
        return None
    return flight


def lead(key: str) -> asyncio.Future[bytes | None]:
    flight: asyncio.Future[bytes | None] = asyncio.get_running_loop().create_future()
    _flights[key] = flight
    return flight


async def follow(flight: asyncio.Future[bytes | None]) -> bytes | None:
    """The leader's answer; None when it had none or did not answer in time."""
    with contextlib.suppress(TimeoutError):
        return await asyncio.wait_for(asyncio.shield(flight), wait_seconds())
    return None


def land(key: str, flight: asyncio.Future[bytes | None] | None, value: bytes | None) -> None:
    """Hand ``value`` (None: no answer) to the flight's followers."""
    if flight is not None and not flight.done():
        flight.set_result(value)


def leave(key: str, flight: Any) -> None:
    """The flight is over: later identical requests read the store again."""
    if flight is not None and _flights.get(key) is flight:
        del _flights[key]


def under_way() -> int:
    """Flights in this process (tests)."""
    return len(_flights)
