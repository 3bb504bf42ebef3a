"""How much a lease's top-up asks for (``gateway.limits.lease_sizes``): small for a
quiet or contended key, doubled when a busy one runs short again, kept across seconds
for a key as busy as it was (at least what its last second used and a quarter more),
halved for one that slowed down. How the leases use it: ``test_leased_limits.py``."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from gateway.limits import lease_sizes
from gateway.limits.lease_sizes import LEASE_REQUESTS, MAX_LEASE_REQUESTS, NEVER_LOW


def lease(**changed: Any) -> SimpleNamespace:
    fields = {"scale": 64, "contended": False, "used_at": 10.0, "second": 10, "low": 0,
              "second_used": 0, "unreported": 0, "free": 0, "topped": 0.0}  # fmt: skip
    return SimpleNamespace(**{**fields, **changed})


def test_a_quiet_or_contended_lease_asks_for_the_least() -> None:
    quiet = lease(used_at=10.0)
    assert lease_sizes.scale(quiet, 1, False, 11, 10.0 + lease_sizes.IDLE_SECONDS) == LEASE_REQUESTS
    assert (quiet.scale, quiet.topped) == (LEASE_REQUESTS, 11.0)
    assert lease_sizes.scale(lease(contended=True), 1, False, 10, 10.2) == LEASE_REQUESTS


def test_a_busy_lease_short_again_doubles_up_to_the_most() -> None:
    assert lease_sizes.scale(lease(free=0), 1, False, 10, 10.2) == 128
    assert (
        lease_sizes.scale(lease(scale=MAX_LEASE_REQUESTS), 1, False, 10, 10.2) == MAX_LEASE_REQUESTS
    )
    assert lease_sizes.scale(lease(free=5), 1, False, 10, 10.2) == 64  # room enough: kept


def test_a_new_second_keeps_a_steady_keys_size_and_halves_a_slower_ones() -> None:
    busy = {"used_at": 11.0}  # admitted from a moment ago
    steady = lease(low=3, second_used=60, **busy)
    assert lease_sizes.scale(steady, 1, True, 11, 11.1) == 128  # 60 and a quarter: 75
    assert steady.low == NEVER_LOW  # the new second's least room is yet to be seen
    assert lease_sizes.scale(lease(low=3, second_used=40, **busy), 1, True, 11, 11.1) == 64
    # never less than half of its 64 left: slowed down, halved (and 10 used fits in 32)
    assert lease_sizes.scale(lease(low=40, second_used=10, **busy), 1, True, 11, 11.1) == 32


def test_a_second_asks_for_what_the_last_used_and_a_quarter_more() -> None:
    assert lease_sizes.second_scale(0, 1) == LEASE_REQUESTS
    assert lease_sizes.second_scale(100, 1) == 128  # 125 wanted
    assert lease_sizes.second_scale(1000, 10) == 128  # requests of 10 each
    assert lease_sizes.second_scale(10**9, 1) == MAX_LEASE_REQUESTS
