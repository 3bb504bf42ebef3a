"""What a translation lost: the request fields the caller sent that its upstream did not
get as sent, one note each, for the journal (``Record.translation``), the console's log
detail and ``switchyard_translation_dropped_total``.

A note is ``{"field": ..., "action": "dropped" | "rewritten", "detail": ...}``; ``field``
names the caller's field (its own path for what no other dialect has: ``cache_control``,
``messages[0].content[1] (input_audio)``; the canonical name otherwise:
``temperature``, ``reasoning.effort``). What is recorded, and where it happens:

- dropped by ``drop_params``: fields the upstream's format cannot carry
  (``ChatRequest.unmapped``, when the upstream speaks another dialect) and the canonical
  parameters its adapter does not take (``Provider.unsupported_params``);
- dropped because the model does not take them (``gateway.core.capabilities``: tools,
  parallel tool calls, JSON-schema output, sampling parameters a reasoning model
  refuses; on a passed-through body also the reasoning parameters of a model that does
  not reason);
- prompt-cache breakpoints an upstream has no use for (it caches prefixes on its own)
  or over the limit of four (``gateway.core.prompt_cache``);
- dropped or rewritten so the upstream takes the request at all: what its API version
  refuses, what the model's catalog rules refuse, rename, clamp or map
  (``gateway.core.mediation``);
- dropped: the ``phase`` of a Responses client's assistant messages, on an upstream of
  another format (none has the concept: the Messages API, Chat Completions and Gemini
  carry no "commentary" vs "final answer" on a turn's text);
- rewritten: stop sequences and an output floor the gateway emulates
  (``gateway.core.emulation``), reasoning given as an effort to an upstream that takes a
  token budget or the reverse (``Codec.reasoning_as``), image and document URLs the
  gateway fetches and sends as bytes (``gateway.core.media_inline``).

Nothing is allocated when nothing is lost: every check is a test on what the request
already holds, and the notes list is made at the first note (``None`` otherwise), so the
common call, and a body passed through untouched, cost a few attribute reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from gateway.core import prompt_cache

if TYPE_CHECKING:
    from gateway.base.entries import DeploymentEntry, RouteEntry
    from gateway.base.types import ChatRequest
    from gateway.core.emulation import Emulation
    from gateway.providers.base import Provider

Note = dict[str, str]
DROPPED = "dropped"
REWRITTEN = "rewritten"


class Notes:
    """Notes gathered for one call, one per field (the first reason given wins)."""

    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Note] | None = None

    def add(self, field: str, action: str, detail: str) -> None:
        if self.items is None:
            self.items = []
        elif any(n["field"] == field for n in self.items):
            return
        self.items.append({"field": field, "action": action, "detail": detail})

    def add_all(self, fields: Iterable[str], action: str, detail: str) -> None:
        for name in fields:
            self.add(name, action, detail)


def translated(
    request: ChatRequest,
    upstream: ChatRequest,
    adapter: Provider,
    route: RouteEntry,
    deployment: DeploymentEntry,
    *,
    adapted: Iterable[str] = (),
    emulated: Emulation | None = None,
    breakpoints: prompt_cache.Plan = prompt_cache.NONE,
    fetches: bool = False,
) -> list[Note] | None:
    """The notes of a translated call (None: nothing lost). ``request``: as the caller
    sent it; ``upstream``: as the adapter is handed it; ``adapted``: the parameters
    ``capabilities.adapt`` took out; ``fetches``: media URLs are fetched as bytes."""
    notes = Notes()
    codec = adapter.speaks
    kind = adapter.provider.kind
    if route.drop_params:  # else check_unmapped_params refused them (never reached here)
        if request.unmapped and adapter.dialect != request.dialect:
            notes.add_all(
                request.unmapped, DROPPED, f"the {kind} upstream's format cannot express it"
            )
        unsupported = adapter.unsupported_params(request, deployment)
        if unsupported:
            notes.add_all(unsupported, DROPPED, f"the {kind} upstream does not take it")
    if adapted:
        notes.add_all(adapted, DROPPED, f"{deployment.label} does not take it")
    if request.cache_marks and adapter.dialect not in prompt_cache.CACHING_DIALECTS:
        notes.add(
            "cache_control",
            DROPPED,
            f"the {kind} upstream caches prompt prefixes on its own (no breakpoints)",
        )
    if breakpoints.dropped:
        notes.add(
            "cache_control",
            DROPPED,
            f"over the limit of {prompt_cache.MAX_BREAKPOINTS} breakpoints, not sent: "
            + ", ".join(breakpoints.dropped),
        )
    if emulated is not None:
        if emulated.stops:
            notes.add("stop", REWRITTEN, "the upstream has no stop sequences: the gateway cuts")
        if emulated.max_tokens is not None:
            notes.add(
                "max_tokens",
                REWRITTEN,
                f"{emulated.max_tokens} is below the upstream's floor of {upstream.max_tokens}: "
                "asked for the floor, the gateway cuts the answer",
            )
    reasoning = request.reasoning
    if reasoning is not None and codec is not None:
        if not deployment.supports_reasoning or (
            codec.reasoning_as == "effort" and not deployment.takes_reasoning_effort
        ):
            notes.add("reasoning", DROPPED, f"{deployment.label} takes no reasoning setting")
        elif reasoning.effort is not None and codec.reasoning_as == "budget":
            notes.add("reasoning.effort", REWRITTEN, "sent as a thinking token budget")
        elif (
            reasoning.budget_tokens is not None
            and reasoning.effort is None
            and codec.reasoning_as == "effort"
        ):
            notes.add("reasoning.budget_tokens", REWRITTEN, "sent as an effort bucket")
    if request.dialect == "responses" and adapter.dialect != "responses" and _phased(request):
        notes.add("phase", DROPPED, f"the {kind} upstream's format has no assistant phase")
    if fetches:
        notes.add(
            "media URL",
            REWRITTEN,
            "fetched by the gateway and sent as bytes (the upstream takes no URLs)",
        )
    return notes.items


def _phased(request: ChatRequest) -> bool:
    """Whether an assistant text of the conversation says its ``phase`` (Responses)."""
    return any(
        getattr(part, "phase", None) is not None
        for message in request.messages
        if message.role == "assistant"
        for part in message.parts
    )


def merged(first: list[Note] | None, more: list[Note]) -> list[Note]:
    """``first`` with the notes of ``more`` whose fields it does not note yet."""
    notes = Notes()
    notes.items = list(first) if first else None
    for note in more:
        notes.add(note["field"], note["action"], note["detail"])
    return notes.items or []


def passed_through(body: dict[str, Any], adapted: dict[str, Any], label: str) -> list[Note]:
    """The notes of a passed-through body ``capabilities.adapt_body`` took keys out of
    (called only when it did: ``adapted is not body``)."""
    notes = Notes()
    notes.add_all((k for k in body if k not in adapted), DROPPED, f"{label} does not take it")
    return notes.items or []
