"""What the request path hands to the journal: one ``Record`` per request.

``Attempt`` (one upstream try) belongs to routing, which makes them; a record carries
the list routing returned."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, NamedTuple

from gateway.routing.attempts import Attempt

if TYPE_CHECKING:
    from gateway.base.entries import KeyEntry

__all__ = ["Attempt", "Record", "Spliced"]


class Spliced(NamedTuple):
    """A queued body that is another body of its record from offset ``at`` on, after
    its own ``head`` (``journal.admit``: a passed-through upstream request is the caller's
    with the model renamed near its start, and is queued as the few KB that differ, not
    as a second 150 KB copy). ``made`` gives the very bytes back."""

    head: bytes
    source: str  # the record's field holding the body it continues
    at: int

    def made(self, rec: Record) -> bytes:
        return self.head + memoryview(getattr(rec, self.source))[self.at :]


@dataclass(slots=True)
class Record:
    request_id: str
    created_at: float = field(default_factory=time.time)  # epoch seconds
    key_id: int | None = None
    key_name: str = ""
    key_prefix: str = ""
    dialect: str = ""  # openai | anthropic
    endpoint: str = ""  # chat | messages | completions | embeddings | count_tokens
    route: str = ""  # the route that answered (the last attempt's)
    requested_route: str = ""  # the route the caller named (a fallback may answer)
    deployment_id: int | None = None
    provider: str = ""
    upstream_model: str = ""
    stream: bool = False
    status: int = 0
    finish_reason: str = ""
    error_kind: str = ""
    error_message: str = ""
    attempts: list[Attempt] = field(default_factory=list)
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    upstream_ms: float | None = None
    overhead_ms: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: Decimal = Decimal("0")
    cache_saved_usd: Decimal = Decimal("0")  # what the prompt cache saved (registry)
    user_agent: str = ""
    end_user: str = ""  # spend attribution (gateway/telemetry/attribution.py)
    session: str = ""
    agent_run: str = ""  # the A2A agent run it was made in (gateway/access/delegation.py)
    tags: tuple[str, ...] = ()  # request tags (gateway/telemetry/tags.py)
    from_playground: bool = False
    client_disconnected: bool = False
    cache_hit: bool = False  # answered from the response cache (no upstream call)
    cache_similarity: float | None = None  # an answer cache's hit: how similar (semantic)
    cache_hit_saved_usd: Decimal | None = None  # a hit: what its answer cost upstream
    prompt_cache_breakpoints: str = ""  # gateway/core/prompt_cache Plan.describe()
    shadow_of: str = ""  # the request this one mirrors (gateway/core/shadow)
    mcp_calls: list[dict[str, Any]] | None = None  # hosted MCP tool calls (mcp/hosted)
    # the guardrails that ran (gateway.features.guardrails): one note each, never the text checked
    guardrails: list[dict[str, Any]] | None = None
    # request fields dropped or rewritten in translation (gateway.core.lossiness)
    translation: list[dict[str, str]] | None = None
    # the registry prompt the request named and the version it ran (gateway.features.prompts)
    prompt_name: str = ""
    prompt_version: int | None = None
    # bodies (bytes or JSON-able objects); secrets never put here
    inbound_request: Any = None
    upstream_request: Any = None
    upstream_response: Any = None
    outbound_response: Any = None
    # what the record counts against the journal's memory bound (set when it is queued)
    queued_bytes: int = field(default=0, repr=False, compare=False)
    # its bodies were let go to keep the queue within its memory bound (journal.background)
    bodies_shed: bool = field(default=False, repr=False, compare=False)
    # what of its bodies waits in the journal's spool on disk instead (journal.spool)
    spooled_bytes: int = field(default=0, repr=False, compare=False)

    def time_until_now(self, started: float, upstream_started: float | None) -> None:
        """Its latency from ``started`` (``time.monotonic()``) to now and, when it went
        upstream at ``upstream_started``, the upstream's part and the gateway's own."""
        now = time.monotonic()
        self.latency_ms = (now - started) * 1000
        if upstream_started is not None:
            self.upstream_ms = (now - upstream_started) * 1000
            self.overhead_ms = self.latency_ms - self.upstream_ms

    @classmethod
    def of_call(cls, protocol: str, key: KeyEntry | None, **fields: Any) -> Record:
        """The row of a call on one of the gateway's own protocols (``protocol``: "mcp",
        "a2a") as it starts: a fresh id with the protocol's prefix, the protocol as its
        dialect and provider, ``key``'s id, name and prefix (none while no key is known)
        and ``fields``."""
        return cls(
            request_id=f"{protocol}_{uuid.uuid4().hex[:24]}",
            key_id=key.id if key is not None else None,
            key_name=key.name if key is not None else "",
            key_prefix=key.prefix if key is not None else "",
            dialect=protocol,
            provider=protocol,
            **fields,
        )
