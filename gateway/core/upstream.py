"""The one prepare of an upstream call: everything the gateway does to a canonical
request between routing and the provider, and to what the provider answers.

For one attempt (a route's deployment and its adapter) ``UpstreamCall.prepare`` makes the
request the provider is handed, in this order:

0. given the output ceiling its budget hold assumed, when it names none
   (``held_ceiling``): no answer may be longer than what was held of the budget;
1. adapted to the deployment (``gateway.core.capabilities.adapt``) and made valid for
   its upstream's API version and its model's parameter rules
   (``gateway.core.mediation``; a strict route refuses what would be dropped);
2. prompt-cache breakpoints marked for the upstreams that cache up to them
   (``gateway.core.prompt_cache``; on the chat path, which passes its estimate);
3. what the upstream's format lacks planned for emulation (``gateway.core.emulation``:
   stop sequences, a ``max_tokens`` below its floor), as its ``Codec`` declares;
4. reasoning another model family signed dropped (``foreign_reasoning_dropped``): a
   session that thought on Claude and falls back to a model that cannot verify Claude's
   signatures (a non-Claude Bedrock model, an OpenAI one) sends it none, nor OpenAI's
   encrypted reasoning to Claude; the text stays, as plain reasoning the codec judges;
5. images and documents given by URL that the upstream takes as bytes only fetched
   (``gateway.core.media_inline``), when the call is made (it awaits): a refused fetch
   raises before the upstream is called.

What the steps take out of or change in the caller's request is noted for the journal
(``notes``: ``gateway.core.lossiness``; None when nothing was lost).

``complete`` and ``stream`` call the provider with that request and apply the emulation
to its answer or stream. So a provider is HTTP and auth only: it imports nothing of core
and is handed a request its upstream takes. This sits in core because it is the
pipeline's step; it reads only what is below (the route and deployment, the adapter, the
codec's declarations).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

from gateway.base.entries import DeploymentEntry, RouteEntry
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Part,
    StreamEvent,
    Thinking,
    messages_digest,
)
from gateway.core import (
    capabilities,
    emulation,
    lossiness,
    media_inline,
    mediation,
    prompt_cache,
)
from gateway.core.emulation import Emulation
from gateway.providers.base import Exchange, Provider


def foreign_reasoning_dropped(request: ChatRequest, families: frozenset[str]) -> ChatRequest:
    """``request`` without the signed reasoning its upstream cannot verify (its model
    verifies ``families``): such a part keeps its text as plain reasoning (what a codec
    does with plain text is its own rule: Claude's and Bedrock's drop it, a DeepSeek-style
    chat upstream takes it back as ``reasoning_content``); redacted data alone goes. The
    same object when there is nothing to drop."""

    def foreign(part: Part) -> bool:
        if not isinstance(part, Thinking):
            return False
        family = part.family()
        return family is not None and family not in families

    def plain(parts: list[Part]) -> list[Part]:
        out: list[Part] = []
        for part in parts:
            if not foreign(part):
                out.append(part)
            elif isinstance(part, Thinking) and part.text:
                out.append(Thinking(part.text))
        return out

    if messages_digest(request) is not None:
        return request  # (unbuilt messages hold no signed reasoning: the scans take none)
    if not any(foreign(p) for m in request.messages for p in m.parts):
        return request
    messages = [
        dataclasses.replace(m, parts=plain(m.parts)) if any(foreign(p) for p in m.parts) else m
        for m in request.messages
    ]
    return dataclasses.replace(request, messages=messages)


@dataclass(slots=True)
class UpstreamCall:
    """One attempt's upstream call, prepared: the ``adapter`` and ``deployment`` it goes
    to, the ``request`` as the adapter is handed it (media by URL still to fetch), what
    the gateway emulates around it (None: nothing) and the prompt-cache breakpoints it
    carries (``breakpoints.describe()`` is the journal's line); ``fetches``: media URLs
    are fetched before the call; ``notes``: what the caller asked for that the upstream
    does not get as asked (``gateway.core.lossiness``; None: nothing)."""

    adapter: Provider
    deployment: DeploymentEntry
    request: ChatRequest
    emulated: Emulation | None = None
    breakpoints: prompt_cache.Plan = prompt_cache.NONE
    fetches: bool | None = None  # media to fetch, as ``prepare`` found (None: not looked)
    notes: list[lossiness.Note] | None = None

    @classmethod
    def prepare(
        cls,
        request: ChatRequest,
        adapter: Provider,
        route: RouteEntry,
        deployment: DeploymentEntry,
        *,
        estimate: int | None = None,
        held_ceiling: int | None = None,
    ) -> UpstreamCall:
        """``request`` made ready for ``adapter``'s upstream (steps 1 to 4 above).
        ``estimate``: the prompt's estimated tokens, given where the gateway places
        prompt-cache breakpoints (None: the request's own marks go as they are).
        ``held_ceiling``: the output ceiling the request's budget hold assumed
        (``Job.held_ceiling``), sent as its ``max_tokens`` when it names none."""
        if held_ceiling and request.max_tokens is None:
            request = dataclasses.replace(request, max_tokens=held_ceiling)
        upstream = capabilities.adapt(request, route, deployment)
        adapted = capabilities.dropped(request, deployment) if upstream is not request else ()
        upstream, mediated = mediation.for_request(upstream, adapter, route, deployment)
        breakpoints = prompt_cache.NONE
        if estimate is not None:
            upstream, breakpoints = prompt_cache.for_upstream(
                upstream, adapter.dialect, auto=route.auto_cache_breakpoints, estimate=estimate
            )
        emulated = None
        if adapter.speaks is not None:  # an adapter with no wire format lacks nothing
            upstream, emulated = emulation.plan(upstream, adapter.speaks)
        upstream = foreign_reasoning_dropped(upstream, adapter.verifies_reasoning(deployment))
        codec = adapter.speaks
        fetches = codec is not None and media_inline.fetches(upstream, codec.media_urls)
        notes = lossiness.translated(
            request,
            upstream,
            adapter,
            route,
            deployment,
            adapted=adapted,
            emulated=emulated,
            breakpoints=breakpoints,
            fetches=fetches,
        )
        if mediated:
            notes = lossiness.merged(notes, mediated)
        return cls(adapter, deployment, upstream, emulated, breakpoints, fetches, notes)

    async def complete(self, exchange: Exchange) -> ChatResponse:
        """The upstream's answer, with the emulation applied."""
        request = await self._inlined()
        answer = await self.adapter.complete(request, self.deployment, exchange)
        return emulation.response(answer, self.emulated) if self.emulated is not None else answer

    def stream(self, exchange: Exchange) -> AsyncIterator[StreamEvent]:
        """The upstream's stream, with the emulation applied. The adapter's own stream
        when there is nothing to fetch or emulate (no generator between)."""
        if self.fetches:
            events = self._inlined_stream(exchange)
        else:
            events = self.adapter.stream(self.request, self.deployment, exchange)
        return emulation.stream(events, self.emulated) if self.emulated is not None else events

    async def _inlined(self) -> ChatRequest:
        """The request with the media its upstream cannot take by URL fetched (step 4);
        as is when ``prepare`` found nothing to fetch in it (an agent's history is not
        walked for URLs a second time)."""
        codec = self.adapter.speaks
        if codec is None or self.fetches is False:
            return self.request
        return await media_inline.inline(self.request, codec.media_urls)

    async def _inlined_stream(self, exchange: Exchange) -> AsyncIterator[StreamEvent]:
        events = self.adapter.stream(await self._inlined(), self.deployment, exchange)
        try:
            async for event in events:
                yield event
        finally:
            if isinstance(events, AsyncGenerator):  # closed with its reader (pumps)
                await events.aclose()
