"""Limits leased to workers, for a ``CounterStore`` (gateway/limits/limits_book.py).

A worker of ``serve --workers N`` takes slices of a key's limits at once, leases
(``gateway.limits.leased_limits``), and admits that key's requests against them in its
own memory: a request of a key with a budget or an rpm limit (and of its team and owner,
when they have limits of those kinds) then costs no round trip to the counter service.
Three kinds of limit are leased, each lease named by its counter and a **line**:

- a budget: the line is the budget period; a lease is room in the budget, counted as held
  beside the holds of requests in flight (an admission fits while spend + holds + leases
  stays within the budget);
- an rpm limit: the line is ``"rpm"``; a lease is requests of one second (its worker
  admits from it during that second only), counted beside the sliding window's requests;
- a tpm limit: the line is ``"tpm"``; a lease is tokens of one second, as for rpm (each
  request takes its estimate; the settle's correction is reported with the second of its
  admission, so it lands in that second's bucket; a request larger than the whole limit
  passes when nothing is counted or leased, as in an admission).

So what workers lease can never be used twice. A worker reports to the service in the
same operation that asks for more: what it used since (the spend of the requests it
settled; the requests it admitted, which go into the window's bucket of the lease's
second) and the room no request of its holds (returned). A report is **complete** when
the worker had by then heard every grant of room beyond a request that the service made
it: after a complete report its lease is exactly its requests in flight.

Where a request does not fit and workers lease part of a limit, the line turns
**contended**: from then on a grant covers the asking request only and workers report
each settle at once, as a key without a lease does, until a grant finds half the limit
free again (an rpm window that emptied, a budget raised). The request itself waits until every
worker that leased some of the line when it came (itself too, if its own report was not
complete) has made a complete report since; the service asks each of them to
(``["lease_back", counter, line]``, sent unasked: ``asks``), which costs a round trip
between the service and a worker. After ``WAIT_SECONDS`` (a worker that does not answer)
it stops waiting. The request is then admitted or refused on those figures.

A lease goes when the connection its worker last asked on closes (the worker died, or it
counts alone until it reconnects and gave up its room: ``gone``), and otherwise lapses:
a budget's lease the holds' time to live after its last report, an rpm or tpm lease when
its second leaves the window. Money is counted in integer units of 1e-8 USD. This module
imports no Django: the counter service runs in the supervisor process.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

WAIT_SECONDS = 0.2  # the longest a request waits for other workers' reports
STALE_SECONDS = 5.0  # a wait this long past its deadline was never asked again: dropped
RPM = "rpm"  # the line of an rpm limit's leases (a budget's is its period)
TPM = "tpm"  # the line of a tpm limit's leases
PER_SECOND = (RPM, TPM)  # lines leased a second at a time, beside the sliding window
WINDOW = 60  # seconds: such a lease lapses when its second leaves the window


@dataclass(slots=True)
class _Lease:
    """One worker's lease of one line."""

    units: int = 0
    expires: float = 0.0  # epoch: it lapses unless reported on before
    extra_seq: int = 0  # the last operation that leased it room beyond its request
    reports: int = 0  # its complete reports so far


@dataclass(slots=True)
class _Line:
    """The leases of one line of one counter, and the requests waiting on them."""

    leases: dict[str, _Lease] = field(default_factory=dict)  # by holder
    contended: int | None = None  # the limit under which it turned contended
    limit: int | None = None  # a budget line's limit at its last grant
    # (holder, seq) of a waiting request -> (holder -> its reports when it came; deadline)
    waits: dict[tuple[str, int], tuple[dict[str, int], float]] = field(default_factory=dict)


class Leases:
    """Every worker's leases, and which of a holder's reports were applied already."""

    def __init__(self) -> None:
        self._lines: dict[tuple[Any, str], _Line] = {}
        self._seen: dict[str, int] = {}  # holder -> sequence number of its last operation
        self.asks: list[tuple[str, list[Any]]] = []  # (holder, message) to send it unasked
        self.callers: dict[str, Any] = {}  # holder -> the connection it last asked on

    def held(self, counter: Any, line: str, at: float) -> int:
        """Units leased of ``counter``'s ``line`` at epoch ``at`` (lapsed leases dropped)."""
        found = self._lines.get((counter, line))
        if found is None:
            return 0
        total = 0
        for holder, lease in list(found.leases.items()):
            if lease.expires <= at:
                del found.leases[holder]
            else:
                total += lease.units
        self._drop_if_idle(counter, line, found)
        return total

    def _drop_if_idle(self, counter: Any, line: str, found: _Line) -> None:
        """Forget a line nothing is leased of, waited on or contended (a key used once
        leaves nothing behind)."""
        if not found.leases and not found.waits and found.contended is None:
            self._lines.pop((counter, line), None)

    def first(self, holder: str, seq: int) -> bool:
        """Whether operation ``seq`` of ``holder`` is new (a waiting one is asked again:
        its reports were applied the first time)."""
        if self._seen.get(holder, -1) >= seq:
            return False
        self._seen[holder] = seq
        return True

    def report(
        self, counter: Any, line: str, holder: str, units: int, answered: int, expires: float
    ) -> None:
        """Take ``units`` (used and returned) off ``holder``'s lease. ``answered``: the
        last operation whose grant the worker had heard of when it gave back all its
        room (-1: it gave back none)."""
        found = self._lines.get((counter, line))
        lease = found.leases.get(holder) if found is not None else None
        if found is None or lease is None:
            return
        lease.units -= units
        lease.expires = max(lease.expires, expires)
        if answered >= lease.extra_seq:
            lease.reports += 1
        if lease.units <= 0:
            del found.leases[holder]
            self._drop_if_idle(counter, line, found)

    def grant(
        self,
        counter: Any,
        line: str,
        holder: str,
        seq: int,
        units: int,
        need: int,
        expires: float,
        limit: int | None = None,
    ) -> None:
        """Lease ``units`` more to ``holder`` for a request of ``need`` (``limit``: a
        budget's, kept for ``overdrawn``)."""
        found = self._lines.setdefault((counter, line), _Line())
        if limit is not None:
            found.limit = limit
        found.waits.pop((holder, seq), None)
        lease = found.leases.get(holder)
        if lease is None:
            lease = found.leases[holder] = _Lease()
        lease.units += units
        lease.expires = max(lease.expires, expires)
        if units > need:
            lease.extra_seq = seq

    def contended(self, counter: Any, line: str, limit: int) -> bool:
        """Whether grants of this line cover the asking request only."""
        found = self._lines.get((counter, line))
        return found is not None and found.contended == limit

    def spent(self, counter: Any, line: str, limit: int) -> None:
        """A budget was found spent while workers lease room of it (a session's charge
        or a batch's cost was added to its spend outside their leases): the line turns
        contended and each of them is asked for its report and room (``lease_back``), so
        no worker admits from room the budget no longer has."""
        found = self._lines.get((counter, line))
        if found is None:
            return
        found.contended = limit
        self.asks += [
            (holder, ["lease_back", counter, line])
            for holder, lease in found.leases.items()
            if lease.units > 0
        ]

    def overdrawn(self, counter: Any, line: str, spent: int) -> None:
        """Spend was added to a budget outside the leases (a session's turn charged, a
        batch's cost, a request that cost more than its hold): when it and what workers
        lease no longer fit the budget they were granted under, they are asked back as
        when it is spent (``spent``), so no worker admits from room the budget no longer
        has (a lease may live a second and more: its worker tells its use with its
        next top-up)."""
        found = self._lines.get((counter, line))
        if found is None or found.limit is None:
            return
        if spent + sum(max(lease.units, 0) for lease in found.leases.values()) > found.limit:
            self.spent(counter, line, found.limit)

    def settled(self, counter: Any, line: str) -> None:
        """The line is no longer contended (an rpm window emptied, a budget was raised)."""
        found = self._lines.get((counter, line))
        if found is not None:
            found.contended = None

    def wait(
        self, counter: Any, line: str, holder: str, seq: int, answered: int, limit: int
    ) -> bool:
        """Request ``seq`` of ``holder`` does not fit: turn the line contended and say
        whether the request should wait for leases to be reported on (see the module)."""
        found = self._lines.get((counter, line))
        if found is None:
            return False
        found.contended = limit
        moment = time.monotonic()
        for stale in [w for w, (_, end) in found.waits.items() if end + STALE_SECONDS <= moment]:
            del found.waits[stale]  # requests whose connection went while they waited
        entry = found.waits.get((holder, seq))
        if entry is None:
            awaited = {
                other: lease.reports
                for other, lease in found.leases.items()
                if lease.units > 0 and (other != holder or answered < lease.extra_seq)
            }
            if not awaited:
                return False
            entry = found.waits[(holder, seq)] = (awaited, moment + WAIT_SECONDS)
            self.asks += [(other, ["lease_back", counter, line]) for other in awaited]
        awaited, deadline = entry
        leases = found.leases
        if moment < deadline and any(
            other in leases and leases[other].reports <= reports
            for other, reports in awaited.items()
        ):
            return True
        del found.waits[(holder, seq)]
        return False

    def gone(self, caller: Any) -> None:
        """The leases of the workers that last asked on ``caller`` (a closed connection)."""
        holders = {holder for holder, last in self.callers.items() if last is caller}
        for holder in holders:
            del self.callers[holder]
        for found in self._lines.values():
            for holder in holders & found.leases.keys():
                del found.leases[holder]

    def forget(self, counter: Any) -> None:
        for stale in [name for name in self._lines if name[0] == counter]:
            del self._lines[stale]


def lease(store: Any, at: float, holder: str, seq: int, ttl: float, lines: list[Any]) -> Any:
    """The ``lease`` operation of a ``CounterStore`` (``store``; see its module for the
    wire format): the reports of every line applied once per ``seq``, then, if any line
    has a ``need``, every such line checked and only if all fit, each granted."""
    leases: Leases = store.leases
    if leases.first(holder, seq):
        for counter, line, _, _, used, returned, answered, _, _, second, fixes in lines:
            per_second = line in PER_SECOND
            expires = 0.0 if per_second else at + ttl
            leases.report(counter, line, holder, used + returned, answered, expires)
            if not per_second:
                loaded = store.spend.get((counter, line))
                if used and loaded is not None:  # one not loaded is read from the log
                    store.spend[(counter, line)] = max(0, loaded + used)
                continue
            window = store.window(counter)
            if used and second > at - WINDOW:
                window.count(int(second), used, line == TPM)
            for fixed, delta in fixes:  # a tpm line's settled requests: their real tokens
                window.correct(int(fixed), int(delta))
    rooms: list[int | None] = []
    for index, (counter, line, limit, initial, *_, answered, need, _, _, _) in enumerate(lines):
        if need <= 0:
            rooms.append(None)
            continue
        if line in PER_SECOND:
            window = store.window(counter)
            window.prune(int(at))
            leased = leases.held(counter, line, at)
            counted = window.tokens if line == TPM else window.requests
            taken = counted + leased
            room = limit - taken
            if line == TPM and not taken:
                room = max(room, need)  # a request larger than the allowance passes alone
            column = 2 if line == TPM else 1
            refusal = [line, index, window.wait(at, column, taken, need, limit)]
        else:
            spent = store._spent(counter, line, initial)
            if spent is None:
                return ["load", index]
            if spent >= limit:
                leases.spent(counter, line, limit)
                return ["budget", index, spent]
            held = store._held(counter, line, at)
            room = limit - spent - held
            refusal = ["held", index, spent, held]
        if need > room:
            if leases.wait(counter, line, holder, seq, answered, limit):
                return None
            return refusal
        rooms.append(room)
    granted = []
    for (counter, line, limit, *_, need, want, _, _), room in zip(lines, rooms, strict=True):
        if room is not None and room - need >= limit // 2:
            leases.settled(counter, line)  # half the limit free again: leases are worth it
        contended = leases.contended(counter, line, limit)
        if room is None:
            granted.append([0, int(contended)])
            continue
        units = need if contended else min(max(want, need), max(need, room // 4))
        expires = float(int(at) + WINDOW) if line in PER_SECOND else at + ttl
        budget = None if line in PER_SECOND else limit
        leases.grant(counter, line, holder, seq, units, need, expires, budget)
        granted.append([units, int(contended)])
    return ["ok", granted]
