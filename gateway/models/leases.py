"""Named leases: one row per singleton job (``gateway.base.leases.hold``), so that of all
the processes of all the instances one at a time runs it (retention pruning)."""

from __future__ import annotations

from django.db import models


class SingletonLease(models.Model):
    """Held by ``runner`` (host:pid:nonce) until ``lease_until``; free once that passed."""

    name = models.CharField(max_length=64, primary_key=True)
    runner = models.CharField(max_length=128, blank=True, default="")
    lease_until = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} ({self.runner or 'free'} until {self.lease_until:%H:%M:%S})"
