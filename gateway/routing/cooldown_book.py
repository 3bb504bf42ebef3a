"""The server-wide cooldown book: failed requests, cooldowns and half-open probes of
deployments, as the counter service keeps them for every worker of one ``serve``
(``gateway/routing/shared_cooldowns.py`` explains the protocol; Redis keeps the same state
with the scripts there).

Times are the callers' epoch seconds (``at``); answers give durations relative to
``at`` so that workers compare them with their own clocks. The counter service keeps
one as its book ``cooldowns`` and answers the ``cooldown_*`` operations with it, both
registered here (``gateway.base.hooks``). Imports no Django: the counter service runs
in the supervisor.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks


@dataclass(slots=True)
class _Entry:
    failures: deque[float] = field(default_factory=deque)  # since the last success
    until: float = 0.0  # when the cooldown ends (0: never cooled since the last success)
    probe_until: float = 0.0  # a probe is in flight until then (its lease)


class CooldownBook:
    """Deployment id -> its entry; every method answers a wire reply (a list)."""

    def __init__(self) -> None:
        self.entries: dict[int, _Entry] = {}
        self.version = 0  # counts the changes a watcher is told of (``watch``)

    def failed(
        self,
        deployment_id: int,
        at: float,
        threshold: int,
        window: float,
        cooldown: float,
        probe: bool,
        alone: bool,
    ) -> list[Any]:
        """One failed request: ``["ok", cool_for | None, failures, started]`` where
        ``started`` says this failure began a cooldown (its reporter logs it)."""
        entry = self.entries.setdefault(int(deployment_id), _Entry())
        self.version += 1
        seen = entry.failures
        seen.append(at)
        while seen and seen[0] <= at - window:
            seen.popleft()
        if probe:
            entry.probe_until = 0.0
        started = not alone and (probe or len(seen) >= threshold)
        if started:
            entry.until = at + cooldown
            seen.clear()
        return ["ok", entry.until - at if entry.until else None, len(seen), started]

    def succeeded(self, deployment_id: int) -> list[Any]:
        if self.entries.pop(int(deployment_id), None) is not None:
            self.version += 1
        return ["ok"]

    def state(self, deployment_id: int, at: float, window: float) -> list[Any]:
        """One deployment's ``["ok", cool_for | None, failures]`` (asked before an
        attempt on a deployment known to fail: has it been cooled meanwhile?)."""
        entry = self.entries.get(int(deployment_id))
        if entry is None:
            return ["ok", None, 0]
        recent = sum(1 for seen in entry.failures if seen > at - window)
        return ["ok", entry.until - at if entry.until else None, recent]

    def watch(self, seen: int, at: float, window: float, wait: float) -> list[Any] | None:
        """``["ok", version, view]`` (``view`` as ``view`` answers) once the book changed
        since version ``seen``, or ``wait`` seconds after ``at``; until then None: the
        counter service holds the request and asks again after each ``cooldown_*``
        operation (``gateway.base.counters``). Every worker keeps one such request
        waiting, so a cooldown reaches all of them the moment it starts."""
        now = time.time()
        if seen == self.version and now < at + wait:
            return None
        return ["ok", self.version, self.view(now, window)[1]]

    def probe(self, deployment_id: int, at: float, lease: float) -> list[Any]:
        """Claim the one probe of a half-open deployment: ``["yes"]``, or ``["no",
        wait]`` while it still cools or another process's probe is in flight."""
        entry = self.entries.get(int(deployment_id))
        if entry is None or not entry.until:
            return ["yes"]  # not cooled (a success cleared it): nothing to probe
        if entry.until > at:
            return ["no", entry.until - at]
        if entry.probe_until > at:
            return ["no", entry.probe_until - at]
        entry.probe_until = at + lease
        return ["yes"]

    def release(self, deployment_id: int) -> list[Any]:
        """A probe ended without a verdict: the next request may probe."""
        entry = self.entries.get(int(deployment_id))
        if entry is not None:
            entry.probe_until = 0.0
        return ["ok"]

    def view(self, at: float, window: float) -> list[Any]:
        """``["ok", [[deployment_id, cool_for | None, failures], ...]]`` for every
        deployment with recent failures or a cooldown not yet closed by a success
        (``cool_for`` <= 0: half-open); forgets entries with neither."""
        out: list[list[Any]] = []
        for deployment_id, entry in list(self.entries.items()):
            seen = entry.failures
            while seen and seen[0] <= at - window:
                seen.popleft()
            if not seen and not entry.until:
                del self.entries[deployment_id]
                continue
            out.append([deployment_id, entry.until - at if entry.until else None, len(seen)])
        return ["ok", out]

    def answer(self, op: str, args: list[Any]) -> list[Any] | None:
        if op == "cooldown_watch":
            return self.watch(*args)
        if op == "cooldown_state":
            return self.state(*args)
        if op == "cooldown_failed":
            return self.failed(*args)
        if op == "cooldown_succeeded":
            return self.succeeded(*args)
        if op == "cooldown_probe":
            return self.probe(*args)
        if op == "cooldown_release":
            return self.release(*args)
        if op == "cooldown_view":
            return self.view(*args)
        raise ValueError(f"unknown operation {op!r}")


COOLDOWN_OPS = (
    "cooldown_failed",
    "cooldown_succeeded",
    "cooldown_probe",
    "cooldown_release",
    "cooldown_view",
    "cooldown_state",
    "cooldown_watch",
)


def _answering(op: str) -> Callable[..., list[Any] | None]:
    """The counter service's handler of ``op``: the book ``cooldowns`` answers it."""

    def handler(books: CounterBooks, *args: Any) -> list[Any] | None:
        book: CooldownBook = books.cooldowns
        return book.answer(op, list(args))

    return handler


# The shared counter service keeps one CooldownBook as its book "cooldowns".
hooks.counter_books.register("cooldowns", CooldownBook)
for _op in COOLDOWN_OPS:
    hooks.counter_ops.register(_op, _answering(_op))
