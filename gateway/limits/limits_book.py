"""The key limits' book: per-key rate and budget counters and deployments' per-minute
caps, counted in one place that decides admissions.

``CounterStore`` holds the counters: a sliding 60-second window of requests and tokens
per key (or team, or user), the spend of each one's current budget period with the
budget held by requests in flight (``gateway.limits.budget_holds``), and each
deployment's requests and tokens of the current minute. It is plain synchronous
Python: a process counting alone uses one directly (``gateway.limits.limits``'
``MemoryCounters``), and the shared counter service keeps one for every worker of a
server (the book ``limits`` of ``gateway.base.counters.CounterBooks``, whose operations
this module registers).

Operations (wire format of ``gateway.base.counters``):

- ``[id, "admit", key_id, rpm, tpm, tokens, budget, period, at, initial, hold,
  hold_ttl]`` answers ``["ok", second]`` or, with a ``hold``, ``["ok", second,
  hold_id]`` (``second`` identifies the tokens reserved, ``null`` when the key has no
  rpm/tpm; ``hold_id`` the ``hold`` units of budget held for ``hold_ttl`` seconds;
  ``hold`` and ``hold_ttl`` may be left out), ``["load"]`` (the
  period's spend is unknown: send it again with ``initial``, the spend read from the
  request log), ``["budget", spent]``, ``["held", spent, held]`` (the hold does not fit
  beside the other requests' holds), ``["rpm", wait]`` or ``["tpm", wait]``.
- ``[id, "admit_all", tokens, at, hold, hold_ttl, [[counter_id, rpm, tpm, budget,
  period, initial], ...]]``: one request against a key and its team together (a team
  counts under the negative of its id); all are checked before any is reserved. Answers
  ``["ok", [[second, hold_id], ...]]`` or ``[reason, index, *detail]`` as above for the
  subject at ``index``.
- ``[id, "settle", key_id, second, delta, period, cost, initial, hold_period, hold_id]``
  releases the hold, adds ``cost``, corrects the tokens; answers ``["ok"]`` or
  ``["load"]``. A negative ``cost`` (spend given back) lowers a loaded spend, never
  below 0, and leaves one not loaded alone.
- ``[id, "settle_all", [[counter_id, second, delta, period, cost, initial,
  hold_period, hold_id], ...]]`` settles a key and its team together (what a joint
  admission reserved): ``["ok"]``, or ``["load", index]`` when the subject at
  ``index`` needs its ``initial`` spend, and then nothing was settled.
- ``[id, "claim", deployment_id, rpm, tpm, minute]`` counts one request against a
  deployment's caps for the (epoch) ``minute``: ``["ok"]``, or ``["full"]`` when the
  minute's requests reached ``rpm`` or its tokens ``tpm`` (nothing counted then).
- ``[id, "used", deployment_id, minute, tokens]`` adds the tokens a deployment served
  to its minute (for ``tpm``); answers ``["ok"]``.
- ``[id, "lease", at, holder, seq, ttl, [[counter_id, line, limit, initial, used,
  returned, answered, need, want, second, fixes], ...]]``: a worker's leases of the
  limits one request counts against (gateway/limits/limit_leases.py), a line per limit:
  a budget's (``line`` its period, ``limit`` the budget), an rpm or a tpm limit's
  (``line`` ``"rpm"`` or ``"tpm"``). It first applies, once per ``seq`` of ``holder``,
  the worker's report of each line: ``used`` (spend, or requests or tokens admitted at
  ``second``) added where it counts, each ``[second, delta]`` of ``fixes`` (a tpm
  line's settled requests) corrected in its bucket, ``used + returned`` taken off its
  lease (``answered``: the last of its operations whose answer
  the worker had when it returned all its room, -1 when it returned none). Then, if any
  line has a ``need`` (0: a report only), all such lines are checked, and only if all
  fit each is granted at least ``need`` and up to ``want`` units (a quarter of what is
  left at most; ``need`` only once the line is contended): ``["ok", [[granted,
  contended], ...]]``. Otherwise, after waiting for other workers' leases to come back,
  a refusal of the line at ``index``: ``["load", index]`` (send its ``initial``),
  ``["budget", index, spent]``, ``["held", index, spent, held]``, ``["rpm", index,
  wait]`` or ``["tpm", index, wait]``. ``ttl`` is the holds' time to live (a budget's lease lapses that long after
  its last report).

Money is counted in integer units of 1e-8 USD; ``budget`` is -1 for none, ``initial``
is ``null`` unless answering ``"load"``. Everything one admission checks and reserves
happens in one step of the service's loop, so it is atomic across workers.

It sits in ``limits`` beside the limits it counts for; it imports no Django, since the
supervisor process that hosts the service loads none.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from gateway.base import hooks
from gateway.base.counters import CounterBooks
from gateway.limits import limit_leases
from gateway.limits.budget_holds import Holds
from gateway.limits.limit_leases import RPM, TPM, Leases

WINDOW = 60  # seconds
OPS = (
    "admit",
    "admit_all",
    "settle",
    "settle_all",
    "claim",
    "used",
    "lease",
)  # CounterStore's methods by these names


class Window:
    """Requests and tokens in one-second buckets over the last WINDOW seconds."""

    __slots__ = ("buckets", "requests", "tokens")

    def __init__(self) -> None:
        self.buckets: deque[list[int]] = deque()  # [second, requests, tokens]
        self.requests = 0
        self.tokens = 0

    def prune(self, second: int) -> None:
        while self.buckets and self.buckets[0][0] <= second - WINDOW:
            _, requests, tokens = self.buckets.popleft()
            self.requests -= requests
            self.tokens -= tokens

    def add(self, second: int, tokens: int) -> int:
        """Count one request of ``tokens``; return the second of the bucket that holds it
        (a late caller whose clock read an earlier second joins the newest bucket, so the
        buckets stay in order)."""
        if not self.buckets or self.buckets[-1][0] < second:
            self.buckets.append([second, 0, 0])
        bucket = self.buckets[-1]
        bucket[1] += 1
        bucket[2] += tokens
        self.requests += 1
        self.tokens += tokens
        return bucket[0]

    def count(self, second: int, used: int, tokens: bool = False) -> None:
        """Count ``used`` requests (or ``tokens``) admitted at ``second`` from a worker's
        lease (reported a moment later: its bucket may lie behind newer ones)."""
        buckets = self.buckets
        index = len(buckets)
        while index and buckets[index - 1][0] > second:
            index -= 1
        if not (index and buckets[index - 1][0] == second):
            buckets.insert(index, [second, 0, 0])
            index += 1
        buckets[index - 1][2 if tokens else 1] += used
        if tokens:
            self.tokens += used
        else:
            self.requests += used

    def correct(self, second: int, delta: int) -> None:
        """Replace part of a reservation's estimate by the real count (if still held)."""
        for bucket in self.buckets:
            if bucket[0] == second:
                bucket[2] += delta
                self.tokens += delta
                return

    def wait(self, at: float, column: int, total: int, need: int, limit: int) -> float:
        """Seconds until old buckets free enough room for ``need`` more."""
        freed = 0
        for bucket in self.buckets:
            freed += bucket[column]
            if total - freed + need <= limit:
                return bucket[0] + WINDOW - at
        return float(WINDOW)


class CounterStore:
    """Every key's windows and budget spend; ``admit`` checks and reserves at once.
    Deployments' caps count per epoch minute (``claim``, ``used``), as routing does in a
    single process."""

    def __init__(self) -> None:
        self.windows: dict[int, Window] = {}
        self.spend: dict[tuple[int, str], int] = {}  # (key id, period id) -> 1e-8 USD
        self.holds = Holds()  # budget held by requests in flight
        self.leases = Leases()  # budget leased to workers (their requests in flight and more)
        self.minutes: dict[int, list[int]] = {}  # deployment id -> [minute, requests, tokens]

    def _minute(self, deployment_id: int, minute: int) -> list[int]:
        """The deployment's counts of the newest minute anyone asked about (a late
        caller whose clock read the minute before counts in the newer one)."""
        entry = self.minutes.get(deployment_id)
        if entry is None or entry[0] < minute:
            entry = self.minutes[deployment_id] = [minute, 0, 0]
        return entry

    def claim(self, deployment_id: int, rpm: int, tpm: int, minute: int) -> list[Any]:
        entry = self._minute(deployment_id, minute)
        if (rpm and entry[1] >= rpm) or (tpm and entry[2] >= tpm):
            return ["full"]
        entry[1] += 1
        return ["ok"]

    def used(self, deployment_id: int, minute: int, tokens: int) -> list[Any]:
        entry = self._minute(deployment_id, minute)
        if entry[0] == minute:  # tokens of a minute that is over count for nothing
            entry[2] += max(0, int(tokens))
        return ["ok"]

    def _spent(self, key_id: int, period: str, initial: int | None) -> int | None:
        spent = self.spend.get((key_id, period))
        if spent is None and initial is not None:
            # A key has one current period: drop the ones before it.
            for stale in [k for k in self.spend if k[0] == key_id]:
                del self.spend[stale]
            spent = self.spend[(key_id, period)] = int(initial)
        return spent

    def admit(
        self,
        key_id: int,
        rpm: int,
        tpm: int,
        tokens: int,
        budget: int,
        period: str,
        at: float,
        initial: int | None = None,
        hold: int = 0,
        hold_ttl: float = 0,
    ) -> list[Any]:
        hold = hold if budget >= 0 else 0
        refusal = self._check((key_id, rpm, tpm, budget, period, initial), tokens, at, hold)
        if refusal is not None:
            return refusal
        second = self.window(key_id).add(int(at), tokens) if rpm or tpm else None
        return self._ok(second, key_id, period, hold, at + hold_ttl)

    def admit_all(
        self, tokens: int, at: float, hold: int, hold_ttl: float, subjects: list[list[Any]]
    ) -> list[Any]:
        """Admit one request against several counters at once (a key and its team): each
        subject ``[counter_id, rpm, tpm, budget, period, initial]`` is checked first and
        only if all pass is anything reserved. Answers ``["ok", [[second, hold_id],
        ...]]`` or a refusal of one subject: ``[reason, index, *detail]`` (``"load"``:
        send that subject's ``initial``)."""
        for index, subject in enumerate(subjects):
            refusal = self._check(subject, tokens, at, hold)
            if refusal is not None:
                return [refusal[0], index, *refusal[1:]]
        taken = []
        for counter_id, rpm, tpm, budget, period, _ in subjects:
            second = None
            if rpm or tpm:
                second = self.windows.setdefault(counter_id, Window()).add(int(at), tokens)
            hold_id = None
            if hold > 0 and budget >= 0:
                hold_id = self.holds.take(counter_id, period, hold, at + hold_ttl)
            taken.append([second, hold_id])
        return ["ok", taken]

    def _check(self, subject: Sequence[Any], tokens: int, at: float, hold: int) -> list[Any] | None:
        """Why one subject (``[counter_id, rpm, tpm, budget, period, initial]``, as
        ``admit_all`` takes it) cannot take one more request now (None: it can)."""
        counter_id, rpm, tpm, budget, period, initial = subject
        if budget >= 0:
            spent = self._spent(counter_id, period, initial)
            if spent is None:
                return ["load"]
            if spent >= budget:
                self.leases.spent(counter_id, period, budget)
                return ["budget", spent]
            if hold > 0:
                held = self._held(counter_id, period, at)
                if spent + held + hold > budget:
                    return ["held", spent, held]
        if not rpm and not tpm:
            return None
        window = self.window(counter_id)
        window.prune(int(at))
        taken = window.requests + self.leases.held(counter_id, RPM, at) if rpm else 0
        if rpm and taken + 1 > rpm:
            return ["rpm", window.wait(at, 1, taken, 1, rpm)]
        used = window.tokens + self.leases.held(counter_id, TPM, at) if tpm else 0
        if tpm and used and used + tokens > tpm:
            return ["tpm", window.wait(at, 2, used, tokens, tpm)]
        return None

    def _ok(
        self, second: int | None, key_id: int, period: str, hold: int, expires: float
    ) -> list[Any]:
        """An admission's answer; with a hold, the hold's id too."""
        if hold <= 0:
            return ["ok", second]
        return ["ok", second, self.holds.take(key_id, period, hold, expires)]

    def settle(
        self,
        key_id: int,
        second: int | None,
        delta: int,
        period: str,
        cost: int,
        initial: int | None = None,
        hold_period: str | None = None,
        hold: int | None = None,
    ) -> list[Any]:
        if hold is not None and hold_period is not None:
            self.holds.release(key_id, hold_period, hold)
        if cost:
            spent = self._spent(key_id, period, initial if cost > 0 else None)
            if spent is None and cost > 0:
                return ["load"]
            if spent is not None:  # a give-back on a spend not loaded yet: nothing to do
                spent = self.spend[(key_id, period)] = max(0, spent + cost)
                if cost > 0:
                    self.leases.overdrawn(key_id, period, spent)
        if second is not None and delta:
            window = self.windows.get(key_id)
            if window is not None:
                window.correct(second, delta)
        return ["ok"]

    def settle_all(self, subjects: list[list[Any]]) -> list[Any]:
        """``settle`` of each subject ``[counter_id, second, delta, period, cost, initial,
        hold_period, hold_id]``, all or none: a spend to add that is not loaded (and
        has no ``initial``) answers ``["load", index]`` before anything changes."""
        for index, (counter_id, _, _, period, cost, initial, _, _) in enumerate(subjects):
            if cost > 0 and initial is None and (counter_id, period) not in self.spend:
                return ["load", index]
        for subject in subjects:
            self.settle(*subject)
        return ["ok"]

    def _held(self, counter: int, period: str, at: float) -> int:
        """What requests in flight hold of a budget period and what workers lease of it."""
        return self.holds.held(counter, period, at) + self.leases.held(counter, period, at)

    def window(self, counter: int) -> Window:
        """``counter``'s window of the last WINDOW seconds (a new one if it has none)."""
        window = self.windows.get(counter)
        if window is None:
            window = self.windows[counter] = Window()
        return window

    def lease(
        self, at: float, holder: str, seq: int, ttl: float, lines: list[list[Any]]
    ) -> list[Any] | None:
        """A worker's reports and leases topped up (gateway/limits/limit_leases.py)."""
        reply: list[Any] | None = limit_leases.lease(self, at, holder, seq, ttl, lines)
        return reply

    def gone(self, caller: Any) -> None:
        """A worker's connection closed: what it leased goes back (its requests in flight
        died with it, or it counts them alone until it reconnects)."""
        self.leases.gone(caller)

    def forget(self, key_id: int) -> None:
        self.windows.pop(key_id, None)
        self.holds.forget(key_id)
        self.leases.forget(key_id)
        for stale in [k for k in self.spend if k[0] == key_id]:
            del self.spend[stale]

    def answer(self, request: list[Any]) -> list[Any]:
        """Carry out one wire request (without its id) in this store alone."""
        op, *args = request
        if op in OPS:
            reply: list[Any] = getattr(self, op)(*args)
            return reply
        if op == "ping":
            return ["pong"]
        raise ValueError(f"unknown operation {op!r}")


def _on_limits(op: str) -> Callable[..., list[Any]]:
    """The counter service's handler of ``op``: the service's ``limits`` book answers it
    (an admission that finds a budget spent may ask workers for their leases back)."""

    def handler(books: CounterBooks, *args: Any) -> list[Any]:
        reply: list[Any] = getattr(books.limits, op)(*args)
        _send_asks(books)
        return reply

    return handler


def _on_lease(books: CounterBooks, *args: Any) -> list[Any] | None:
    """``lease``: the store's answer, and the asks of the workers it wants reports from
    (``holder`` is the second argument)."""
    books.limits.leases.callers[args[1]] = books.caller
    reply: list[Any] | None = books.limits.lease(*args)
    _send_asks(books)
    return reply


def _send_asks(books: CounterBooks) -> None:
    """Each ask the store made, sent on the connection its worker last asked on (after
    the current answer)."""
    leases = books.limits.leases
    if not leases.asks:
        return
    for holder, message in leases.asks:
        caller = leases.callers.get(holder)
        if caller is not None:
            books.push(caller, message)
    leases.asks.clear()


# The shared counter service keeps one CounterStore as its book "limits".
hooks.counter_books.register("limits", CounterStore)
for _op in OPS:
    hooks.counter_ops.register(_op, _on_lease if _op == "lease" else _on_limits(_op))
