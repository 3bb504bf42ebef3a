"""What every outbound adapter implements, and the record of one upstream exchange.

An adapter translates the canonical ``ChatRequest`` into its upstream's wire format,
posts it through the pooled client (``gateway.http.client()``), and maps the answer
back: ``complete`` returns a ``ChatResponse``; ``stream`` yields canonical
``StreamEvent``s as upstream chunks arrive. Folded, a stream equals what ``complete``
returns for the same upstream answer. Upstream failures raise ``UpstreamError`` (or a
subclass) with the upstream's status and message; the provider secret never appears in
an error message.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigurationError, GatewayError
from ..registry import DeploymentEntry, ProviderEntry
from ..types import ChatRequest, ChatResponse, StreamEvent, Usage
from . import kinds
from .kinds import FormHelp, Setting


@dataclass(slots=True)
class Exchange:
    """What went over the wire to and from the upstream, for the journal and timing.
    Adapters fill it in; bodies are kept as bytes exactly as sent/received."""

    url: str = ""
    request_body: bytes = b""
    status: int = 0
    response_body: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    first_byte: float | None = None
    ended: float | None = None
    usage: Usage = field(default_factory=Usage)
    capture_limit: int = 256 * 1024

    def begin(self, url: str, body: bytes) -> None:
        self.url, self.request_body, self.started = url, body, time.perf_counter()

    def received(self, chunk: bytes) -> None:
        if self.first_byte is None:
            self.first_byte = time.perf_counter()
        room = self.capture_limit - len(self.response_body)
        if room > 0:
            self.response_body += chunk[:room]

    def end(self) -> None:
        if self.ended is None:
            self.ended = time.perf_counter()

    @property
    def upstream_ms(self) -> float | None:
        if not self.started:
            return None
        return ((self.ended or time.perf_counter()) - self.started) * 1000


class Provider:
    """Base class of outbound adapters. ``kind`` is its name in ``kinds.KINDS``;
    ``dialect`` names the wire format it speaks (``openai`` or ``anthropic``), so the
    service can pass bodies through untouched when the inbound dialect is the same."""

    kind: str = ""
    dialect: str = ""
    # What a provider of this kind is made of (model validation and the console form):
    # whether it must name its upstream, the Provider.settings it reads as defaults under
    # each deployment's params, and the form's help for its fields.
    needs_base_url: bool = True
    settings_taken: tuple[Setting, ...] = ()
    form_help: FormHelp = FormHelp()
    # Whether a same-dialect body may go upstream untouched (``passthrough``); set per
    # class when it is defined.
    passes_through: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.passes_through = cls.passthrough is not Provider.passthrough

    def __init__(self, provider: ProviderEntry) -> None:
        self.provider = provider

    async def complete(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> ChatResponse:
        raise NotImplementedError

    def stream(
        self, request: ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[StreamEvent]:
        raise NotImplementedError

    # --- same-dialect passthrough: the inbound body, model rewritten, fields kept -------
    async def passthrough(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        """Post ``body`` as is; return the upstream's JSON answer (usage into exchange)."""
        raise NotImplementedError

    def passthrough_stream(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Yield each upstream SSE event as raw bytes to forward, with the canonical
        events it means (for time to first token, usage and the journal)."""
        raise NotImplementedError

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        """Names of canonical parameters set on ``request`` that ``deployment`` does not
        take: ``build_body`` leaves them out, and a route without drop_params refuses
        the request instead."""
        return []

    async def count_tokens(
        self,
        request: ChatRequest,
        deployment: DeploymentEntry,
        body: dict[str, Any],
        headers: dict[str, str],
    ) -> int | None:
        """The upstream's own count, or None where it has no counting endpoint."""
        return None

    async def list_models(self) -> list[str]:
        """Model ids the upstream offers (the console's "test connection")."""
        raise GatewayError(f"{self.kind} providers cannot list models")


def adapter_for(provider: ProviderEntry) -> Provider:
    """The adapter instance for a provider entry (adapters are cheap, stateless); its
    class is the one the kind's line in ``kinds.KINDS`` names."""
    cls = kinds.adapter_class(provider.kind)
    if cls is None:
        raise ConfigurationError(f"provider {provider.name!r} has unknown kind {provider.kind!r}")
    return cls(provider)
