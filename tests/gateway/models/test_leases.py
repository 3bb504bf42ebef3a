"""The singleton leases' table (``gateway.models.leases``): a lease reads as who holds it
until when, or as free."""

from __future__ import annotations

from datetime import UTC, datetime

from gateway.models.leases import SingletonLease


def test_a_lease_reads_as_its_holder_and_end_or_as_free() -> None:
    until = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    held = SingletonLease(name="prune", runner="host:12:ab", lease_until=until)
    assert str(held) == "prune (host:12:ab until 03:04:05)"
    assert str(SingletonLease(name="prune", lease_until=until)) == "prune (free until 03:04:05)"
