"""The cache doctor: how much of a route's, a key's and a session's prompt traffic the
upstream's prompt cache served, what it cost when it did not, and why.

Read from the journal (never on the request path): each answered request's prompt
tokens split three ways as the upstream reported them (uncached ``input_tokens``,
``cache_read_tokens``, ``cache_write_tokens``), its deployment and its session. Requests
follow each other in a **thread**: a session's turns (``session``), or else a key's
requests to one route. Each turn after the first is a **reuse** of the prompt before it
(an agent's turn repeats the whole conversation so far), and what happened to it:

- **warm**: it came within the upstream's cache lifetime (the deployment kind's
  ``prompt_cache_seconds``) and its prompt was long enough to cache (1,024 tokens): a
  read was expected. With none, it is a **miss**, and the **$ lost** is the prompt the
  two turns share (the shorter of the two) at the input price less the cache-read price.
- **late**: it came after the 5-minute lifetime but within an hour: warm only under a
  1-hour TTL (Anthropic's ``cache_control.ttl: "1h"``, writes at 2× the input price
  instead of 1.25×). The recommendation weighs what reading those prompts would save
  (what the turn wrote again or sent uncached) against what every remaining write
  would cost more.

A miss is explained, first cause first: the prefix changed (**volatile prefix**: what
an upstream caches first differs between the two turns' stored bodies — a timestamp or
billing header in the system prompt, a reordered tool list — named with the text that
changed), the turn went to **another deployment** (caches are per deployment: shared
cache affinity keeps a session on one), **no breakpoint** was sent to an upstream that
caches only up to one (Anthropic, Bedrock), or the upstream **kept nothing** we can see.

Per group (route, key, session): hit rate (cache reads over prompt tokens), what reads
saved and writes cost above the input price, **write without read** (writes that cost
more than the reads they bought: caching made the route dearer), and the findings with
the fix named. Bounded work: at most ``MAX_ROWS`` newest requests, and stored bodies
read only for the ``MAX_EXPLAINED`` most costly misses."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

MIN_CACHED_TOKENS = 1024  # upstreams cache no shorter prompt (OpenAI; Anthropic 1,024+)
HOUR = 3600.0
MILLION = Decimal(1_000_000)
# Anthropic's cache-write prices over the input price (docs.anthropic.com, "Prompt
# caching", pricing table): a 5-minute write 1.25×, a 1-hour write 2×, a read 0.1×.
WRITE_5M, WRITE_1H = Decimal("1.25"), Decimal("2")
# Writes count as "without read" when what they cost above the input price is more than
# the reads after them saved.
MAX_ROWS = 20_000
MAX_EXPLAINED = 25
# What an upstream caches first, in the order it caches it, by body key (the dialects'
# names for tools, system prompt and conversation).
PREFIX_KEYS = ("tools", "system", "systemInstruction", "instructions")
CONVERSATION_KEYS = ("messages", "input", "contents")
SNIPPET = 40  # characters shown each side of a change


@dataclass(frozen=True, slots=True)
class Pricing:
    """A deployment's prices per 1M tokens, its kind's cache lifetime, and whether its
    upstream caches only up to breakpoints the request marks."""

    input: Decimal
    read: Decimal
    write: Decimal
    warm_seconds: float = 300.0
    needs_breakpoints: bool = False


FREE = Pricing(Decimal(0), Decimal(0), Decimal(0))


@dataclass(frozen=True, slots=True)
class Turn:
    """One answered request as the doctor reads it from the journal."""

    log_id: int
    request_id: str
    at: datetime
    route: str
    key_id: int | None
    key_name: str
    session: str | None
    deployment_id: int | None
    input_tokens: int
    read_tokens: int
    write_tokens: int
    breakpoints: str  # prompt_cache_breakpoints as logged ("" none)

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.read_tokens + self.write_tokens


@dataclass(slots=True)
class Miss:
    """A warm reuse the upstream did not read from its cache."""

    turn: Turn
    previous: Turn
    lost_usd: Decimal
    cause: str = "kept nothing"  # volatile prefix | another deployment | no breakpoint
    detail: str = ""  # for a volatile prefix: where and what changed


@dataclass(slots=True)
class Group:
    """What the doctor found for one route, key or session."""

    kind: str  # route | key | session
    name: str
    requests: int = 0
    prompt_tokens: int = 0
    read_tokens: int = 0
    write_tokens: int = 0
    saved_usd: Decimal = Decimal(0)  # reads at (input - read price)
    write_premium_usd: Decimal = Decimal(0)  # writes at (write - input price)
    lost_usd: Decimal = Decimal(0)  # warm misses
    warm_reuses: int = 0
    misses: int = 0
    late_reuses: int = 0  # after the lifetime, within an hour
    late_saving_usd: Decimal = Decimal(0)  # what those would save under a 1-hour TTL
    extra_1h_write_usd: Decimal = Decimal(0)  # what 1-hour writes would cost more
    causes: defaultdict[str, int] = field(default_factory=lambda: defaultdict(int))
    volatile: list[str] = field(default_factory=list)  # details, most costly first

    @property
    def hit_rate(self) -> float | None:
        return self.read_tokens / self.prompt_tokens if self.prompt_tokens else None

    @property
    def net_usd(self) -> Decimal:
        """What prompt caching saved net (negative: it cost more than it saved)."""
        return self.saved_usd - self.write_premium_usd

    @property
    def write_without_read(self) -> bool:
        return self.write_tokens > 0 and self.write_premium_usd > self.saved_usd

    @property
    def ttl(self) -> str:
        """The cache lifetime the reuses observed argue for: "1h" when reads after the
        5-minute lifetime would save more than dearer writes cost, else "5m" ("" when no
        reuse was seen at all)."""
        if not self.warm_reuses and not self.late_reuses:
            return ""
        return "1h" if self.late_saving_usd > self.extra_1h_write_usd else "5m"

    def findings(self) -> list[tuple[str, str]]:
        """(what is wrong, the fix), most costly first."""
        out: list[tuple[str, str]] = []
        if self.write_without_read:
            out.append(
                (
                    f"writes without reads: cache writes cost ${self.write_premium_usd:.4f} above "
                    f"the input price and reads saved ${self.saved_usd:.4f}",
                    "the cached prefix is not read back: make the prefix stable (see below) "
                    "or turn automatic cache breakpoints off on this route",
                )
            )
        if self.volatile:
            out.append(
                (
                    "volatile prefix: " + self.volatile[0],
                    "keep what changes per request (time, ids, billing headers) out of the "
                    "tools and system prompt, or after the last cache breakpoint; keep the "
                    "tool list in one order",
                )
            )
        if self.causes.get("another deployment"):
            out.append(
                (
                    f"{self.causes['another deployment']} warm turn(s) went to another "
                    "deployment, whose cache was cold",
                    "give the route one deployment per session (cache affinity: set "
                    "REDIS_URL so every instance shares it)",
                )
            )
        if self.causes.get("no breakpoint"):
            out.append(
                (
                    f"{self.causes['no breakpoint']} warm turn(s) sent no cache breakpoint to "
                    "an upstream that caches only up to one",
                    "turn automatic cache breakpoints on for this route, or have the client "
                    "send cache_control",
                )
            )
        if self.ttl == "1h":
            out.append(
                (
                    f"{self.late_reuses} reuse(s) came after the 5-minute lifetime: a 1-hour "
                    f"TTL would save ${self.late_saving_usd - self.extra_1h_write_usd:.4f} net",
                    'ask for a 1-hour cache (cache_control: {"type": "ephemeral", "ttl": "1h"})',
                )
            )
        return out


@dataclass(slots=True)
class Report:
    routes: list[Group]
    keys: list[Group]
    sessions: list[Group]
    misses: list[Miss]  # the most costly, explained
    rows: int  # requests read
    capped: bool  # more requests than MAX_ROWS in the window: the newest were read

    @property
    def lost_usd(self) -> Decimal:
        return sum((g.lost_usd for g in self.routes), Decimal(0))


def _thread_of(turn: Turn) -> tuple[Any, ...]:
    if turn.session:
        return ("session", turn.key_id, turn.session)
    return ("key", turn.key_id, turn.route)


def analyse(turns: Sequence[Turn], pricing: dict[int, Pricing]) -> Report:
    """The doctor's figures over ``turns`` (any order); ``pricing`` by deployment id
    (a deployment not in it prices at zero: its reuses still count)."""
    groups: dict[tuple[str, str], Group] = {}

    def groups_of(turn: Turn) -> list[Group]:
        found = []
        for kind, name in _names(turn):
            group = groups.get((kind, name))
            if group is None:
                group = groups[(kind, name)] = Group(kind, name)
            found.append(group)
        return found

    ordered = sorted(turns, key=lambda t: (t.at, t.log_id))
    last: dict[tuple[Any, ...], Turn] = {}
    misses: list[Miss] = []
    for turn in ordered:
        price = pricing.get(turn.deployment_id or 0, FREE)
        mine = groups_of(turn)
        saved = Decimal(turn.read_tokens) * (price.input - price.read) / MILLION
        premium = Decimal(turn.write_tokens) * (price.write - price.input) / MILLION
        dearer = Decimal(turn.write_tokens) * price.input * (WRITE_1H - WRITE_5M) / MILLION
        for group in mine:
            group.extra_1h_write_usd += dearer  # every write, at a 1-hour write's price
            group.requests += 1
            group.prompt_tokens += turn.prompt_tokens
            group.read_tokens += turn.read_tokens
            group.write_tokens += turn.write_tokens
            group.saved_usd += saved
            group.write_premium_usd += premium
        thread = _thread_of(turn)
        previous = last.get(thread)
        last[thread] = turn
        if previous is None or previous.prompt_tokens < MIN_CACHED_TOKENS:
            continue
        gap = (turn.at - previous.at).total_seconds()
        shared = min(previous.prompt_tokens, turn.prompt_tokens)
        per_token_miss = (price.input - price.read) / MILLION
        if gap <= price.warm_seconds:
            for group in mine:
                group.warm_reuses += 1
            if turn.read_tokens:
                continue
            miss = Miss(turn, previous, Decimal(shared) * per_token_miss)
            if turn.deployment_id != previous.deployment_id:
                miss.cause = "another deployment"
            elif price.needs_breakpoints and not turn.breakpoints and not previous.breakpoints:
                miss.cause = "no breakpoint"
            misses.append(miss)
            for group in mine:
                group.misses += 1
                group.lost_usd += miss.lost_usd
        elif gap <= HOUR:
            # a 1-hour cache would have read the shared prompt: what this turn wrote of it
            # again (at the write price) or sent uncached (at the input price)
            rewritten = min(turn.write_tokens, shared)
            saving = (
                Decimal(rewritten) * (price.write - price.read)
                + Decimal(shared - rewritten) * (price.input - price.read)
            ) / MILLION
            unwritten = Decimal(rewritten) * price.input * (WRITE_1H - WRITE_5M) / MILLION
            for group in mine:
                group.late_reuses += 1
                group.late_saving_usd += saving
                group.extra_1h_write_usd -= unwritten  # a write a 1-hour cache never makes
    misses.sort(key=lambda m: m.lost_usd, reverse=True)

    def of(kind: str) -> list[Group]:
        found = [g for (k, _), g in groups.items() if k == kind]
        return sorted(found, key=lambda g: (g.lost_usd, -g.net_usd, g.requests), reverse=True)

    return Report(of("route"), of("key"), of("session"), misses, len(turns), False)


def explain(report: Report, bodies: dict[int, dict[str, Any]]) -> None:
    """Name the volatile prefixes, then count each group's misses by cause: for each of
    the ``MAX_EXPLAINED`` costliest misses whose two turns' upstream bodies are in
    ``bodies`` (parsed JSON, by log id), the first place where what an upstream caches
    first differs, unless the earlier body is a prefix of the later. The groups of that
    miss (route, key, session) learn the detail."""
    by_name = {(g.kind, g.name): g for g in (*report.routes, *report.keys, *report.sessions)}
    for miss in report.misses[:MAX_EXPLAINED]:
        before, after = bodies.get(miss.previous.log_id), bodies.get(miss.turn.log_id)
        if before is None or after is None:
            continue
        change = first_change(before, after)
        if change is None:
            continue
        miss.cause, miss.detail = "volatile prefix", change
        for name in _names(miss.turn):
            group = by_name.get(name)
            if group is not None and change not in group.volatile:
                group.volatile.append(change)
    for group in by_name.values():
        group.causes.clear()
    for miss in report.misses:
        for name in _names(miss.turn):
            group = by_name.get(name)
            if group is not None:
                group.causes[miss.cause] += 1


def _names(turn: Turn) -> list[tuple[str, str]]:
    names = [("route", turn.route), ("key", turn.key_name or f"#{turn.key_id}")]
    if turn.session:
        names.append(("session", turn.session))
    return names


def first_change(before: dict[str, Any], after: dict[str, Any]) -> str | None:
    """Where the prefix an upstream caches changed between two request bodies: the
    first of tools, system prompt and conversation that differs, as one line (None:
    the earlier body is a prefix of the later one, nothing volatile)."""
    for key in PREFIX_KEYS:
        old, new = before.get(key), after.get(key)
        if old == new:
            continue
        if key == "tools" and isinstance(old, list) and isinstance(new, list):
            if sorted(map(_canonical, old)) == sorted(map(_canonical, new)):
                return "the tool list is reordered between turns"
            names_old, names_new = [_tool_name(t) for t in old], [_tool_name(t) for t in new]
            if names_old != names_new:
                return f"the tool list changes between turns ({_list_change(names_old, names_new)})"
            index = next(i for i, (a, b) in enumerate(zip(old, new, strict=True)) if a != b)
            return f"tool {names_new[index]!r} changes between turns: {_text_change(old[index], new[index])}"
        return f"{key} changes between turns: {_text_change(old, new)}"
    for key in CONVERSATION_KEYS:
        old, new = before.get(key), after.get(key)
        if not isinstance(old, list) or not isinstance(new, list):
            continue
        for index, item in enumerate(old):
            if index >= len(new):
                return f"{key} lost turns: {len(old)} before, {len(new)} after"
            if item != new[index]:
                if index == len(old) - 1 and _last_mark_only(item, new[index]):
                    continue  # the last message loses its cache mark as the next turn comes
                return f"{key}[{index}] changes between turns: {_text_change(item, new[index])}"
        return None
    return None


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False)


def _tool_name(tool: Any) -> str:
    if isinstance(tool, dict):
        function = tool.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str):
            return str(function["name"])
        for key in ("name", "type"):
            if isinstance(tool.get(key), str):
                return str(tool[key])
    return "?"


def _list_change(old: list[str], new: list[str]) -> str:
    gone, added = [n for n in old if n not in new], [n for n in new if n not in old]
    parts = []
    if gone:
        parts.append("removed " + ", ".join(gone))
    if added:
        parts.append("added " + ", ".join(added))
    return "; ".join(parts) or "reordered"


def _last_mark_only(old: Any, new: Any) -> bool:
    """Whether two messages differ only by ``cache_control`` marks (the gateway or the
    client moves the last mark forward every turn: not a change of content)."""
    return bool(_unmarked(old) == _unmarked(new))


def _unmarked(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    return value


def _text_change(old: Any, new: Any) -> str:
    """The part of two values that differs, with a little context: "…time: 07:1[4→5]…"."""
    a = old if isinstance(old, str) else _canonical(old)
    b = new if isinstance(new, str) else _canonical(new)
    start = 0
    limit = min(len(a), len(b))
    while start < limit and a[start] == b[start]:
        start += 1
    end = 0
    while end < limit - start and a[len(a) - 1 - end] == b[len(b) - 1 - end]:
        end += 1
    head = a[max(0, start - SNIPPET) : start]
    removed, added = a[start : len(a) - end], b[start : len(b) - end]
    tail = b[len(b) - end : len(b) - end + SNIPPET] if end else ""
    lead = "…" if start > SNIPPET else ""
    trail = "…" if end > SNIPPET else ""
    return f"{lead}{head}[{_cut(removed)}→{_cut(added)}]{tail}{trail}"


def _cut(text: str) -> str:
    return text if len(text) <= 2 * SNIPPET else f"{text[:SNIPPET]}…{text[-SNIPPET:]}"


def threads(turns: Iterable[Turn]) -> int:
    """How many threads ``turns`` make (for the page's summary)."""
    return len({_thread_of(t) for t in turns})
