"""Retry budgets: how many retries a route may make, as a share of its requests.

Without a budget a failing upstream under load is hit ``max_attempts`` times per
request: an outage triples the traffic it gets. With one, the retries a route makes
(on the same deployment, on a sibling, on a fallback route: every upstream attempt
after a request's first) stay under ``share`` of the requests it received over the last
minute, plus a small allowance (``SWITCHYARD_RETRY_BUDGET_MIN_PER_MINUTE``, 10) so that
a quiet route still retries its occasional hiccup. When the budget is spent a request
fails at once with the error of its last attempt.

The share is the route's ``retry_budget`` (0.2 = 20 %), else
``SWITCHYARD_RETRY_BUDGET`` (0.2). Counts are per process (a share holds per worker as
it does for the server) over a sliding minute, approximated from this minute's and the
previous minute's counts. Two integer additions per request; nothing is shared.
"""

from __future__ import annotations

from dataclasses import dataclass

WINDOW = 60.0  # seconds


@dataclass(slots=True)
class _Counts:
    minute: int
    requests: int = 0
    retries: int = 0
    previous_requests: int = 0
    previous_retries: int = 0

    def roll(self, minute: int) -> None:
        if minute == self.minute:
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

    def requested(self, route: str, now: float) -> None:
        """Count one request on ``route`` (each request once, whatever its retries)."""
        self._counts(route, now).requests += 1

    def allows(self, route: str, share: float, floor: int, now: float) -> bool:
        """Whether ``route`` may make one more retry now; if so it is counted."""
        counts = self._counts(route, now)
        requests, retries = counts.recent(now)
        if retries + 1 > floor + share * requests:
            return False
        counts.retries += 1
        return True

    def forget(self, route: str) -> None:
        self.routes.pop(route, None)
