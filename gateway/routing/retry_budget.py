"""Retry budgets: how many retries a route may make, as a share of its requests.

Without a budget a failing upstream under load is hit ``max_attempts`` times per
request: an outage triples the traffic it gets. With one, the retries a route makes
(on the same deployment, on a sibling, on a fallback route: every upstream attempt
after a request's first) stay under ``share`` of the requests it received over the last
minute, plus a small allowance (``SWITCHYARD_RETRY_BUDGET_MIN_PER_MINUTE``, 10) so that
a quiet route still retries its occasional hiccup. When the budget is spent a request
fails at once with the error of its last attempt.

The share is the route's ``retry_budget`` (0.2 = 20 %), else
``SWITCHYARD_RETRY_BUDGET`` (0.2). Counts run over a sliding minute, approximated from
this minute's and the previous minute's counts.

``RetryBudget`` is the book: a process counting alone keeps one, and where processes
share counters one budget holds for all of them (``gateway.routing.shared_retry_budget``
says how a worker talks to it): the counter service of ``serve --workers N`` keeps one as
its book ``retries`` and answers these operations with it (wire format of
``gateway.base.counters``; ``at`` is the caller's epoch seconds), and Redis keeps the same
counts with the script in ``shared_retry_budget``:

- ``[id, "retry_count", at, [[route, requests], ...]]`` answers ``["ok"]``: requests
  the caller counted since it last told (batched: a request costs no round trip);
- ``[id, "retry_ask", route, share, floor, at, [[route, requests], ...]]`` answers
  ``["ok", true]`` (one more retry fits, and is counted) or ``["ok", false]``, after
  counting the requests it carries.

Imports no Django: the counter service runs in the supervisor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks

WINDOW = 60.0  # seconds


@dataclass(slots=True)
class _Counts:
    minute: int
    requests: int = 0
    retries: int = 0
    previous_requests: int = 0
    previous_retries: int = 0

    def roll(self, minute: int) -> None:
        if minute <= self.minute:  # a late caller's minute counts in the newer one
            return
        if minute == self.minute + 1:
            self.previous_requests, self.previous_retries = self.requests, self.retries
        else:  # a minute or more without a request
            self.previous_requests = self.previous_retries = 0
        self.minute, self.requests, self.retries = minute, 0, 0

    def recent(self, now: float) -> tuple[float, float]:
        """(requests, retries) over the last minute: this minute's, plus the share of
        the previous minute's that still lies in the window."""
        left = 1.0 - (now % WINDOW) / WINDOW
        return (
            self.requests + self.previous_requests * left,
            self.retries + self.previous_retries * left,
        )


class RetryBudget:
    """Requests and retries per route name, and the verdict on one more retry."""

    def __init__(self) -> None:
        self.routes: dict[str, _Counts] = {}

    def _counts(self, route: str, now: float) -> _Counts:
        minute = int(now // WINDOW)
        counts = self.routes.get(route)
        if counts is None:
            counts = self.routes[route] = _Counts(minute)
        else:
            counts.roll(minute)
        return counts

    def requested(self, route: str, now: float, count: int = 1) -> None:
        """Count ``count`` requests on ``route`` (each request once, whatever its retries)."""
        self._counts(route, now).requests += count

    def allows(self, route: str, share: float, floor: int, now: float) -> bool:
        """Whether ``route`` may make one more retry now; if so it is counted."""
        counts = self._counts(route, now)
        requests, retries = counts.recent(now)
        if retries + 1 > floor + share * requests:
            return False
        counts.retries += 1
        return True

    def retried(self, route: str, now: float) -> None:
        """Count a retry another book granted (this book then holds, should that one
        become unreachable)."""
        self._counts(route, now).retries += 1

    def forget(self, route: str) -> None:
        self.routes.pop(route, None)

    # --- the counter service's operations ---------------------------------------------------

    def count(self, at: float, counts: list[list[Any]]) -> list[Any]:
        for route, requests in counts:
            self.requested(str(route), at, int(requests))
        return ["ok"]

    def ask(
        self, route: str, share: float, floor: int, at: float, counts: list[list[Any]]
    ) -> list[Any]:
        self.count(at, counts)
        return ["ok", self.allows(str(route), float(share), int(floor), at)]


def _answering(op: str) -> Callable[..., list[Any]]:
    """The counter service's handler of ``op``: the book ``retries`` answers it."""

    def handler(books: CounterBooks, *args: Any) -> list[Any]:
        book: RetryBudget = books.retries
        return book.count(*args) if op == "retry_count" else book.ask(*args)

    return handler


# The shared counter service keeps one RetryBudget as its book "retries".
hooks.counter_books.register("retries", RetryBudget)
for _op in ("retry_count", "retry_ask"):
    hooks.counter_ops.register(_op, _answering(_op))
