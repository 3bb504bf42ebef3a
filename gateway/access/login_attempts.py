"""Failed sign-ins, counted per account and per client address, and how long each must
wait before its next password check. Plain Python and no Django: the supervisor's
counter service keeps one ``LoginAttempts`` for every worker (its book ``logins`` and the
op ``login``, both registered here in ``gateway.base.hooks``); a process without it keeps
its own.

Each key (``account:NAME`` or ``address:IP``) gets ``free`` failures; from then on each
further failure doubles the wait (1 s, 2 s, 4 s ... up to ``MAX_WAIT``). A key's
failures are forgotten ``FORGET_AFTER`` seconds after its last one, and an account's on
a successful sign-in.

Wire format inside the counter service: ``[id, "login", "check", keys, now]`` answers
``["ok", wait]``; ``[id, "login", "failed", keys, now]`` counts one failure for every
key and answers ``["ok", wait]`` (the wait that failure started);
``[id, "login", "succeeded", names]`` answers ``["ok"]``. ``keys`` is a list of
``[name, free]``.
"""

from __future__ import annotations

import threading
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks

MAX_WAIT = 15 * 60  # seconds
FORGET_AFTER = 60 * 60
MAX_KEYS = 100_000  # memory bound against callers inventing names and addresses


def wait_after(failures: int, last: float, free: int, now: float) -> float:
    """Seconds still to wait after ``failures`` failures, the last at ``last``."""
    if failures < free:
        return 0.0
    delay = min(2.0 ** (failures - free), MAX_WAIT)
    return max(0.0, last + delay - now)


class LoginAttempts:
    """Failure counts by key: ``name -> (failures, last failure time)``."""

    def __init__(self) -> None:
        self.entries: dict[str, tuple[int, float]] = {}
        self.lock = threading.Lock()

    def _current(self, name: str, now: float) -> tuple[int, float]:
        failures, last = self.entries.get(name, (0, 0.0))
        if failures and now - last > FORGET_AFTER:
            self.entries.pop(name, None)
            return 0, 0.0
        return failures, last

    def check(self, keys: list[list[Any]], now: float) -> float:
        """The longest wait any of ``keys`` must still sit out (0: check the password)."""
        with self.lock:
            return max(
                (wait_after(*self._current(name, now), int(free), now) for name, free in keys),
                default=0.0,
            )

    def failed(self, keys: list[list[Any]], now: float) -> float:
        with self.lock:
            if len(self.entries) >= MAX_KEYS:
                self._prune(now)
            waits = []
            for name, free in keys:
                failures = self._current(name, now)[0] + 1
                self.entries[name] = (failures, now)
                waits.append(wait_after(failures, now, int(free), now))
            return max(waits, default=0.0)

    def succeeded(self, names: list[str]) -> None:
        with self.lock:
            for name in names:
                self.entries.pop(name, None)

    def _prune(self, now: float) -> None:
        for name in [n for n, (_, last) in self.entries.items() if now - last > FORGET_AFTER]:
            del self.entries[name]
        if len(self.entries) >= MAX_KEYS:  # still full: the oldest half goes
            by_age = sorted(self.entries, key=lambda n: self.entries[n][1])
            for name in by_age[: len(by_age) // 2]:
                del self.entries[name]

    def answer(self, command: str, *args: Any) -> list[Any]:
        """One ``login`` wire request (see the module's docstring)."""
        if command == "check":
            return ["ok", self.check(*args)]
        if command == "failed":
            return ["ok", self.failed(*args)]
        if command == "succeeded":
            self.succeeded(*args)
            return ["ok"]
        raise ValueError(f"unknown login command {command!r}")


def _login(books: CounterBooks, *args: Any) -> list[Any]:
    """Sign-in throttling, shared by the workers (``[id, "login", command, ...]``)."""
    book: LoginAttempts = books.logins
    return book.answer(*args)


# The shared counter service keeps one LoginAttempts as its book "logins".
hooks.counter_books.register("logins", LoginAttempts)
hooks.counter_ops.register("login", _login)
