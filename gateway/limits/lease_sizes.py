"""How much a worker's top-up of a lease asks for (gateway/limits/leased_limits.py).

A top-up asks for the request's need and some requests' worth more (``scale``), so that
a busy key's next requests are admitted from the worker's memory rather than each
costing a round trip to the counter service; what the service grants stays within the
room, a quarter of it at most, so the limits hold whatever is asked.
"""

from __future__ import annotations

from typing import Any

LEASE_REQUESTS = 16  # a top-up asks for this many requests' worth beyond the request's
# ... and up to this many for a line that ran short again within a second of its last
# top-up (``scale``: doubled each time; the service grants at most a quarter of the room)
MAX_LEASE_REQUESTS = 1024
IDLE_SECONDS = 1.0  # a lease unused this long goes back; what is used is told this often
NEVER_LOW = 1 << 62  # a lease's ``low`` before its second's first admission


def scale(lease: Any, need: int, per_second: bool, second: int, moment: float) -> int:
    """How many requests' worth a top-up asks for of ``lease`` (a ``Lease``, before it
    reports): at first, and when nothing was admitted from it for ``IDLE_SECONDS`` (a
    quiet key), ``LEASE_REQUESTS``; twice its last, up to ``MAX_LEASE_REQUESTS``, when it
    has less room than ``need`` again (in the same second, for a per-second line): a key
    busier than what it leases asks the service about once a doubling rather than every
    ``LEASE_REQUESTS`` requests (a worker serving a key 1,500 requests a second: 7
    top-ups in its first second, not 90). A per-second line moving to a new second keeps
    its size, halved only when it never had less than half of it left in its last second
    (``low``: the key slowed down), and at least what that second used and a quarter
    more (``second_scale``): a key as busy as it was asks once a second. A contended
    line asks for ``LEASE_REQUESTS`` again (its grants cover the asking request only
    until half the limit is free).

    (Issue #67, the agent cell's p99: a busy lease was reset to ``LEASE_REQUESTS`` when
    its last top-up was a second old, as each is when a lease is topped up once a
    second; and a new second's lease was halved when more of it was unused than used
    since its last top-up, which a top-up made late in a second that had grown it, or a
    tpm lease whose corrections gave its room back, always was. A steady key's leases
    went 16, 32, 64 again every second: two or three top-ups a second more, each waited
    for by the requests that came meanwhile, on a loaded worker whose loop answers a
    round trip 20-280 ms late.)"""
    size: int = lease.scale
    if lease.contended or moment - lease.used_at >= IDLE_SECONDS:  # (used_at: quiet since)
        size = LEASE_REQUESTS
    elif per_second and lease.second != second:
        if lease.low * 2 > size * need:  # more than half of it never needed: slowed down
            size = max(LEASE_REQUESTS, size // 2)
        size = max(size, second_scale(lease.second_used + lease.unreported, need))
        lease.low = NEVER_LOW  # (the new second's least room, from its first admission)
    elif lease.free < need:
        size = min(MAX_LEASE_REQUESTS, size * 2)
    lease.scale, lease.topped = size, moment
    return size


def second_scale(used: int, need: int) -> int:
    """Requests' worth (each of ``need``) for a second that uses what the last one did
    (``used``) and a quarter more: a power of two from ``LEASE_REQUESTS`` to
    ``MAX_LEASE_REQUESTS``."""
    wanted = -(-(used + used // 4) // max(1, need))  # (rounded up)
    size = LEASE_REQUESTS
    while size < wanted and size < MAX_LEASE_REQUESTS:
        size *= 2
    return size
