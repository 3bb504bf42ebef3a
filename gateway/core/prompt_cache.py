"""Prompt-cache breakpoints for the upstreams that need them (Anthropic, Bedrock).

Agents resend a long, mostly identical prefix every turn; Anthropic and Bedrock cache it
only up to the breakpoints the request marks (``cache`` on tools, system blocks and
message parts: ``gateway/base/types``). This module decides the breakpoints an upstream
request carries, on the canonical request, before the codec renders them:

- The client placed its own (an Anthropic client's ``cache_control``): they are kept,
  at most ``MAX_BREAKPOINTS`` (both APIs refuse a fifth with a 400). Over the limit the
  LAST four in prompt order (tools, system, messages) are kept: a breakpoint caches
  everything before it, so the latest ones cover the most; earlier ones only help when
  what follows them changes.
- The client's dialect cannot express them (OpenAI chat, Responses, Gemini): unless the
  route turns it off (``auto_cache_breakpoints``), breakpoints go after the tools, after
  the system prompt and on the last stable turn (the last message before the newest
  user/tool turn, which the next request resends unchanged), so each turn reads what the
  previous one wrote. Requests estimated under ``MIN_AUTO_TOKENS`` are left unchanged
  (nothing that short is cached anyway: Anthropic's minimum is 1,024 tokens and more).
- An Anthropic client that marked nothing asked for no caching: nothing is added.

Other upstreams ignore the marks (OpenAI and Gemini cache prefixes on their own). The
request is never mutated: a marked copy is returned (it may be retried elsewhere).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar, cast

from gateway.base.types import ChatRequest, Message, Text, Thinking, ToolResult

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MAX_BREAKPOINTS = 4
MIN_AUTO_TOKENS = 1024
CACHING_DIALECTS = frozenset({"anthropic", "bedrock"})
# Client dialects that can place breakpoints themselves.
MARKING_DIALECTS = frozenset({"anthropic"})
AUTO_TTL = "5m"

# Where a breakpoint is: ("tools", i) | ("system", i) | ("messages", m, p)
# | ("messages", m, p, k) (the k-th part inside a tool result).
Path = tuple[Any, ...]


@dataclass(slots=True, frozen=True)
class Plan:
    """What a request carries upstream: its breakpoints as labels (``system``,
    ``messages[3]``, ``tools (1h)``; a message's index counts the canonical messages,
    the system prompt apart), whether the gateway placed them, and the labels left out
    over the limit."""

    sent: tuple[str, ...] = ()
    auto: bool = False
    dropped: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line for the request log (empty: no breakpoints)."""
        if not self.sent and not self.dropped:
            return ""
        text = ("auto: " if self.auto else "client: ") + ", ".join(self.sent)
        if self.dropped:
            text += f"; over the limit of {MAX_BREAKPOINTS}, not sent: " + ", ".join(self.dropped)
        return text


NONE = Plan()


def for_upstream(
    request: ChatRequest, upstream_dialect: str, *, auto: bool, estimate: int
) -> tuple[ChatRequest, Plan]:
    """The request to render for an upstream of ``upstream_dialect``, and its plan.
    ``auto``: the route lets the gateway place breakpoints; ``estimate``: the prompt's
    estimated tokens."""
    if upstream_dialect not in CACHING_DIALECTS:
        return request, NONE
    # only a client that marked breakpoints has any: the others skip the walk
    marks = placed(request) if request.cache_marks else []
    if marks:
        if len(marks) <= MAX_BREAKPOINTS:
            return request, Plan(sent=tuple(_label(p, t) for p, t in marks))
        over, kept = marks[:-MAX_BREAKPOINTS], marks[-MAX_BREAKPOINTS:]
        trimmed = _with_marks(request, {path: None for path, _ in over})
        return trimmed, Plan(
            sent=tuple(_label(p, t) for p, t in kept),
            dropped=tuple(_label(p, t) for p, t in over),
        )
    if not auto or request.dialect in MARKING_DIALECTS or estimate < MIN_AUTO_TOKENS:
        return request, NONE
    chosen = automatic(request)
    if not chosen:
        return request, NONE
    marked = _with_marks(request, {path: AUTO_TTL for path in chosen})
    return marked, Plan(sent=tuple(_label(p, AUTO_TTL) for p in chosen), auto=True)


def passed_through(request: ChatRequest) -> str:
    """The log line for a body passed through untouched: the client's own breakpoints,
    named by their paths in its body (noted while parsing: no walk here)."""
    return Plan(sent=tuple(request.cache_marks)).describe() if request.cache_marks else ""


def placed(request: ChatRequest) -> list[tuple[Path, str]]:
    """Every breakpoint on ``request``, in prompt order (tools, system, messages)."""
    out: list[tuple[Path, str]] = []
    for i, tool in enumerate(request.tools):
        if tool.cache:
            out.append((("tools", i), tool.cache))
    for i, text in enumerate(request.system):
        if text.cache:
            out.append((("system", i), text.cache))
    for m, message in enumerate(request.messages):
        for p, part in enumerate(message.parts):
            if isinstance(part, ToolResult):
                for k, inner in enumerate(part.content):
                    if inner.cache:
                        out.append((("messages", m, p, k), inner.cache))
            cache = getattr(part, "cache", None)
            if cache:
                out.append((("messages", m, p), cache))
    return out


def automatic(request: ChatRequest) -> list[Path]:
    """Where the gateway puts breakpoints: the last tool, the last system block (or the
    last part of a leading system message) and the last stable turn, in that order."""
    chosen: list[Path] = []
    if request.tools:
        chosen.append(("tools", len(request.tools) - 1))
    system = [i for i, text in enumerate(request.system) if text.text]
    if system:
        chosen.append(("system", system[-1]))
    else:
        lead = _leading_system(request.messages)
        if lead is not None:
            chosen.append(lead)
    stable = _last_stable_turn(request.messages)
    if stable is not None and stable not in chosen:
        chosen.append(stable)
    return chosen[:MAX_BREAKPOINTS]


def _markable(message: Message) -> int | None:
    """The index of the last part a breakpoint can go on (not thinking, not empty)."""
    for p in range(len(message.parts) - 1, -1, -1):
        part = message.parts[p]
        if isinstance(part, Thinking) or (isinstance(part, Text) and not part.text):
            continue
        return p
    return None


def _leading_system(messages: list[Message]) -> Path | None:
    last = None
    for m, message in enumerate(messages):
        if message.role != "system":
            break
        if (p := _markable(message)) is not None:
            last = ("messages", m, p)
    return last


def _last_stable_turn(messages: list[Message]) -> Path | None:
    """The last message before the newest user/tool run (what the caller just added),
    provided it is not a system message."""
    m = len(messages) - 1
    while m >= 0 and messages[m].role in ("user", "tool"):
        m -= 1
    if m < 0 or messages[m].role == "system" or m == len(messages) - 1:
        return None
    p = _markable(messages[m])
    return ("messages", m, p) if p is not None else None


def _label(path: Path, ttl: str) -> str:
    where = f"messages[{path[1]}]" if path[0] == "messages" else path[0]
    return f"{where} ({ttl})" if ttl == "1h" else where


_FIELDS: dict[type, tuple[str, ...]] = {}
D = TypeVar("D", bound="DataclassInstance")


def replace(obj: D, **changes: Any) -> D:
    """A shallow copy of a slotted dataclass with ``changes``: ``dataclasses.replace``
    without its re-validation through ``__init__`` (5x faster; this runs per request)."""
    cls = type(obj)
    names = _FIELDS.get(cls)
    if names is None:
        names = _FIELDS[cls] = tuple(f.name for f in fields(cls))
    new: D = object.__new__(cls)
    for name in names:
        setattr(new, name, changes[name] if name in changes else getattr(obj, name))
    return new


def _with_marks(request: ChatRequest, changes: dict[Path, str | None]) -> ChatRequest:
    """A copy of ``request`` with the breakpoints at ``changes`` set (a TTL) or removed
    (None); only the objects on those paths are copied."""
    tools, system, messages = list(request.tools), list(request.system), list(request.messages)
    for path, ttl in changes.items():
        if path[0] == "tools":
            tools[path[1]] = replace(tools[path[1]], cache=ttl)
        elif path[0] == "system":
            system[path[1]] = replace(system[path[1]], cache=ttl)
        else:
            m, p = path[1], path[2]
            parts = list(messages[m].parts)
            if len(path) == 4:
                result = cast(ToolResult, parts[p])  # a 4-name path ends in its content
                content = list(result.content)
                content[path[3]] = replace(content[path[3]], cache=ttl)
                parts[p] = replace(result, content=content)
            else:
                parts[p] = replace(parts[p], cache=ttl)
            messages[m] = replace(messages[m], parts=parts)
    return replace(request, tools=tools, system=system, messages=messages)
