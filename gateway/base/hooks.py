"""Extension points filled in from above, read from below.

A lower layer that needs something an upper layer or a feature provides (the pipeline
running hosted MCP tools, the journal's pruning deleting expired stored Responses, the
process warming the client codecs) does not import it: it reads one of these registries,
and the upper package registers into it from its ``AppConfig.ready`` (or at import of
the module that implements it). Registering the same object twice is a no-op, so
``ready`` running again in tests changes nothing.

Each registry is typed by what it holds and documents who calls it and when."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

if TYPE_CHECKING:
    from gateway.base.entries import KeyEntry, OAuthTarget, ProviderEntry
    from gateway.base.plugins import RequestOutcome
    from gateway.base.process_role import Role

T = TypeVar("T")


class Registry(Generic[T]):
    """An ordered set of registered entries (order of registration)."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc
        # a tuple, replaced (not changed) by ``register``/``unregister``: an iteration
        # goes over the entries as they were when it began, and the request path's
        # seven iterations a request copy nothing
        self._entries: tuple[T, ...] = ()

    def register(self, entry: T) -> T:
        """Add ``entry`` (once); returns it, so it can decorate a function."""
        if entry not in self._entries:
            self._entries += (entry,)
        return entry

    def unregister(self, entry: T) -> None:
        if entry in self._entries:
            entries = list(self._entries)
            entries.remove(entry)
            self._entries = tuple(entries)

    def __iter__(self) -> Iterator[T]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<hooks.{self.name}: {len(self._entries)} entries>"


class NamedRegistry(Generic[T]):
    """Entries registered under a unique name (a second registration of a name with a
    different entry is an error: two features claiming one name is a bug)."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.__doc__ = doc
        self._entries: dict[str, T] = {}

    def register(self, key: str, entry: T) -> T:
        current = self._entries.get(key)
        if current is not None and current is not entry:
            raise ValueError(f"hooks.{self.name}: {key!r} is registered already")
        self._entries[key] = entry
        return entry

    def get(self, key: str) -> T | None:
        return self._entries.get(key)

    def __getitem__(self, key: str) -> T:
        return self._entries[key]

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def items(self) -> list[tuple[str, T]]:
        return list(self._entries.items())

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"<hooks.{self.name}: {sorted(self._entries)}>"


# --- the process's life (read by the lifecycle: gateway.base.lifecycle) ---


@dataclass(frozen=True, slots=True)
class BackgroundTask:
    """Work a process runs in the background (``background_tasks``) when its role says:
    ``run`` is started once per event loop on a process whose role is in ``roles``
    (``gateway.base.process_role``; ``all`` runs every task) and cancelled at shutdown.
    A task that must run once across all processes and instances says how itself: the
    batch and evaluation runners claim each job under its row's lease
    (``gateway.base.leases.claim``), a singleton holds a named lease (``leases.hold``).

    ``jobs``: the leased job models such a runner claims from. When given, the task is
    started only once one of them has an unfinished row (``leases.unfinished_among``,
    one query a second for every such task of the process, or at once when this process
    queued the job: ``lifecycle.wake_dormant``): a deployment that never runs a batch or
    an evaluation neither imports their runners nor polls their tables for claims."""

    name: str
    run: Callable[[], Coroutine[Any, Any, None]]
    roles: frozenset[Role]
    jobs: tuple[Any, ...] = ()  # Django models with ``status`` and ``UNFINISHED``


background_tasks: Registry[BackgroundTask] = Registry(
    "background_tasks",
    "``BackgroundTask``s: started once per event loop when the process starts serving, "
    "after the starters, where the process's role runs them (a task with ``jobs`` once "
    "it has one), and cancelled at shutdown. Registered from ``ready``: the batch runner "
    "(native batches' polling) and the expired files' pruning (``gateway.features.batches``), "
    "background Responses (``gateway.features.responses.plugin``), the evaluations' "
    "runner (experiments, shadow scoring; ``console.evals.plugin``), budget alerts "
    "(``gateway.features.alerts``), all for the ``worker`` role. What every role needs "
    "for itself (registry watch, journal writer, metrics publishing) is a starter instead.",
)
warm_ups: Registry[Callable[[], None]] = Registry(
    "warm_ups",
    "Called once at start-up, before the first request: load what the first request "
    "would otherwise pay for (client codecs, common adapters, URL patterns, templates). "
    "An exception is logged, never fatal.",
)
operator_secrets: Registry[Callable[[], list[str]]] = Registry(
    "operator_secrets",
    "Secrets the operator set in the environment for a feature (the bills' admin keys, "
    "``gateway.features.billing``): the journal's and the logs' redaction takes them out like "
    "the master key (``gateway.telemetry.redaction.configured_secrets``).",
)
notices: Registry[Callable[[dict[str, Any]], Awaitable[list[str]]]] = Registry(
    "notices",
    "Deliver a notice to the operator's alert channels now: a dict with ``kind`` and "
    "its fields; answers the names of the channels that took it (none: retry later). "
    "Registered by the alerts feature (its webhook and email); called by the bill "
    "reconciliation (``gateway.features.billing``) for a day that drifts past its threshold.",
)
closers: Registry[Callable[[], Awaitable[None]]] = Registry(
    "closers",
    "Awaited at shutdown after the drainers, in registration order (MCP sessions and "
    "connections); the background tasks are cancelled and the pooled HTTP client is "
    "closed after them. An exception is logged and the next one still runs.",
)

# --- the journal (read by gateway.journal.pruning) ---

pruners: Registry[Callable[[int], int]] = Registry(
    "pruners",
    "Called by the journal's pruning round (``gateway.journal.pruning.prune_round``, in "
    "the writer's thread, after the logs), in registration order, with the round's "
    "``max_batches``: each deletes what its package keeps past its own retention (usage "
    "and spend rollups, audit events, stored Responses) and returns how many rows it "
    "deleted. Filled from ``GatewayConfig.ready``. An exception ends the round.",
)

request_callbacks: Registry[Callable[[RequestOutcome], object]] = Registry(
    "request_callbacks",
    "Called with a ``gateway.base.plugins.RequestOutcome`` after each journaled request, "
    "in registration order, in the one background thread of "
    "``gateway.journal.callbacks`` (never on a request's path; an exception is logged). "
    "Filled by plugins' ``request_callbacks`` hook through "
    "``gateway.journal.callbacks.register``, which subscribes to the journal only while "
    "one is registered.",
)

# --- the shared counter service (read by its client and its server) ---

counter_ops: NamedRegistry[Callable[..., Any]] = NamedRegistry(
    "counter_ops",
    "Operations the counter service runs for every worker (its books: key limits and "
    "budget holds, deployments' caps, cooldowns, sign-in attempts, the reasoning "
    "ledger), by name. A handler is called with the "
    "service's ``gateway.base.counters.CounterBooks`` and the request's arguments and "
    "answers a list; registered at import by the module of its book, read by "
    "``CounterBooks.answer``.",
)

# --- files the gateway keeps for an answer to link to (read by features) ---

file_links: Registry[Callable[[Any, str, bytes, str], str]] = Registry(
    "file_links",
    "Keep bytes for a virtual key and answer an http(s) URL of the gateway that serves "
    "them, signed for that key and expiring (``gateway.features.batches.files.links.keep``), "
    "called with (key, media type, bytes, the gateway's base URL), blocking (run it in "
    "a thread). The media feature answers ``response_format: url`` images with the first "
    "one registered; with none registered it answers a ``data:`` URL.",
)

# --- the pipeline (read by gateway.core) ---


class ExtraJob(Protocol):
    """A feature's answer to a chat request, in place of the upstream's (``extra_jobs``).
    ``job`` is the chat job (``gateway.core.jobs``), admitted and past the response cache;
    ``route`` its ``RouteEntry``."""

    async def takes(self, job: Any, route: Any) -> bool:
        """Whether this feature answers the request (it may refuse it by raising, and
        may complete the request first: e.g. attach the route's MCP servers). Async so
        that a feature loads its modules off the loop (``gateway.base.lazy_import``)."""
        ...

    async def respond(self, job: Any, route: Any) -> Any:
        """The reply (``Reply`` or ``StreamReply``); finishes the call as the job would."""
        ...


extra_jobs: Registry[ExtraJob] = Registry(
    "extra_jobs",
    "What a feature answers a chat request with instead of the plain upstream call: the "
    "chat job (``gateway.core.jobs``) asks each, in order, after admission and the "
    "response cache, whether it ``takes`` the request; the first that does ``respond``s. "
    "Filled from ``GatewayConfig.ready`` by the MCP feature (hosted MCP tools) and "
    "server_tools, each a ``gateway.core.tool_runner.ToolJob``: the first asks both, so "
    "one loop runs the tools of both.",
)


@dataclass(frozen=True, slots=True)
class AnswerHit:
    """An earlier answer an ``AnswerCache`` serves for a request: the canonical answer
    (a ``ChatResponse``), how similar the request it answered was (1.0: the same) and
    the USD it cost upstream, which this hit saves."""

    response: Any
    similarity: float
    saved_usd: Any  # Decimal


class AnswerCache(Protocol):
    """A cache that answers a chat request with an earlier answer to a request like it
    (``answer_caches``: the semantic cache). The pipeline asks it only for a request the
    exact response cache may serve (no guardrail reading the answer, no MCP tools) and
    did not; it never asks which kind of cache it is."""

    def applies(self, call: Any, route: Any) -> bool:
        """Whether it looks at this request at all (a few attribute reads: the route's
        settings, the caller's dialect). False costs the request nothing more."""
        ...

    async def lookup(
        self, call: Any, route: Any, request: Any, key: Any, headers: Mapping[str, str]
    ) -> AnswerHit | None:
        """The hit, or None. On a miss it may ask to keep the answer by setting
        ``call.answer_keeper`` (called once with the final ``ChatResponse``). Never raises
        for its own failures (an unreachable embedding route is a miss)."""
        ...


answer_caches: Registry[AnswerCache] = Registry(
    "answer_caches",
    "Caches of answers to similar requests: ``gateway.core.service`` asks each that "
    "``applies`` to ``lookup`` a chat request after the exact response cache missed, in "
    "order; the first hit is replayed in the caller's dialect like an exact hit "
    "(``gateway.core.jobs.cached_reply``) and journaled with its similarity and saving. "
    "Filled by ``gateway.features.semantic_cache``; empty, a request pays one length check.",
)


# --- the applications units serve at the edge (read by gateway.edge.endpoints) ---

asgi_apps: NamedRegistry[Callable[[], Awaitable[Any]]] = NamedRegistry(
    "asgi_apps",
    "The ASGI application a unit serves at an endpoint of the edge's route table, by the "
    "endpoint's name (``mcp``: ``/mcp`` and ``/mcp/<server>``, after the edge's own "
    "Host/Origin check; ``a2a``: ``/a2a/<agent>`` and everything under it): an async loader the edge awaits on each request, so the unit "
    "imports its application (and its libraries) off the loop on first use "
    "(``gateway.base.lazy_import``). Nothing registered: the endpoint answers 404. "
    "Filled by ``gateway.features.mcp.plugin`` and ``gateway.features.a2a.plugin``.",
)

# --- the pipeline's endpoints of features (read by gateway.core.service) ---


class EndpointJob(Protocol):
    """The job of an endpoint a feature serves (``endpoint_jobs``): called as a job class
    is, ``(call, key, body, headers)``, it returns the job (``gateway.core.jobs``)."""

    multipart: bool  # the body is multipart/form-data: the job reads it, never the journal

    def __call__(self, call: Any, key: Any, body: dict[str, Any], headers: Any) -> Any: ...


endpoint_jobs: NamedRegistry[EndpointJob] = NamedRegistry(
    "endpoint_jobs",
    "The jobs of the endpoints a feature adds to the pipeline, by endpoint name (the "
    "media feature's ``/v1/images/*`` and ``/v1/audio/*``, the Responses feature's "
    "``compact``, ``input_tokens`` and ``prepare``): ``gateway.core.service`` runs "
    "the one registered for an endpoint it has no job of its own for, and tells the edge "
    "which bodies are multipart. Filled by ``gateway.features.media.plugin`` and "
    "``gateway.features.responses.plugin`` from ``GatewayConfig.ready``.",
)
route_jobs: Registry[Callable[[Any, Any], Any]] = Registry(
    "route_jobs",
    "Called by ``gateway.core.service`` with ``(job, route)`` once the route is known and "
    "the key may call it, before the job prepares, in order: each returns the job to run "
    "on that route, the one given or a feature's own (the media feature's: a Gemini "
    "client asking for image output of an image model), or refuses by raising. Filled by "
    "``gateway.features.media.plugin`` from ``GatewayConfig.ready``.",
)


class CallState(Protocol):
    """What a feature keeps of one chat request of a dialect with server-side state
    (``call_states``: stored Responses, Gemini interactions), as ``Call.state``. The
    pipeline reads it through these members alone, never asking which kind it is."""

    route: str  # the route's name, set once it is known

    @property
    def keeps(self) -> bool:
        """Whether the final response is still to be kept (stored, remembered)."""
        ...

    def parsed(self, request: Any) -> None:
        """The request as parsed (a ``ChatRequest``): what the response objects echo."""
        ...

    def patch(self, response: dict[str, Any]) -> None:
        """Echo the state on a response object a same-format upstream produced."""
        ...

    def patch_events(self, raw: bytes) -> bytes:
        """``patch`` on the response objects of passed-through stream events."""
        ...

    def final_response(self, chunk: bytes) -> dict[str, Any] | None:
        """The response object a final stream event in ``chunk`` carries, else None."""
        ...

    async def keep(self, response: dict[str, Any]) -> None:
        """Keep the final response (once; never raises): before its last bytes go out."""
        ...

    def detach(self, job: Any, route: Any) -> Awaitable[Any] | None:
        """None: the job answers on the request path. Else the answer to send at once
        (a ``Reply``) while the request runs on (the Interactions API's ``background``)."""
        ...


call_states: NamedRegistry[Callable[[Any, Any, dict[str, Any]], Awaitable[CallState]]] = (
    NamedRegistry(
        "call_states",
        "What keeps a chat request's server-side state, by client dialect (the codec's "
        "name): the chat job (``gateway.core.jobs.ChatJob.prepare``) awaits the entry of "
        "its caller's dialect, if any, with ``(call, key, body)`` before the body is "
        "parsed; it may rewrite the body (an earlier turn's items put in front) or refuse "
        "by raising, and answers the ``CallState`` the pipeline keeps as ``call.state``. "
        "Filled by ``gateway.features.responses`` and ``gateway.features.interactions``; "
        "a dialect with none costs the chat job one lookup.",
    )
)


class DeferredRequests(Protocol):
    """A feature that answers some requests of a dialect at once and runs them later
    (``deferred_requests``: background Responses)."""

    def takes(self, endpoint: str, raw: bytes) -> bool:
        """Whether the request may be one (a cheap test of the raw body: a byte search)."""
        ...

    async def submit(self, raw: bytes, headers: Mapping[str, str], caller: Any) -> Any:
        """The answer (``Reply`` or ``StreamReply``), or None: not one after all (served
        as any request is). Refuses by raising a ``GatewayError``."""
        ...


deferred_requests: NamedRegistry[DeferredRequests] = NamedRegistry(
    "deferred_requests",
    "Requests answered at once and run later, by client dialect: the edge asks the entry "
    "of a POST's dialect whether it ``takes`` the request before handing it to "
    "``core.service.handle``, and ``submit``s it when so (its errors rendered in the "
    "dialect). Filled by ``gateway.features.responses`` (``background: true``).",
)


BodyRewrite = Callable[[Any, Any, dict[str, Any]], None]
request_bodies: Registry[BodyRewrite] = Registry(
    "request_bodies",
    "Called by ``gateway.core.service.handle`` with ``(call, key, body)`` once a JSON "
    "body is parsed, before its job is made and its route looked up: each may rewrite "
    "the caller's body in place (the prompt registry, ``gateway.features.prompts.plugin``, turns a "
    "prompt reference into messages) or refuse it by raising a ``GatewayError`` (a "
    "``SnapshotMiss``, before changing the body, when it names something the snapshot "
    "lacks: the service checks the registry and calls it again). A body "
    "an entry has nothing to do with must cost it a dict lookup or two, nothing more. "
    "Filled from ``GatewayConfig.ready``.",
)

# --- the registry snapshot (read by gateway.access.registry) ---

snapshot_parts: NamedRegistry[Callable[[], Any]] = NamedRegistry(
    "snapshot_parts",
    "A feature's own part of the in-memory snapshot, by name: ``build_snapshot`` (in a "
    "thread, with the registry's rows) calls each loader and keeps what it returns in "
    "``Snapshot.parts[name]``, so the request path reads it without a query; the "
    "feature's tables bump the registry version like the registry's own (``signals``). "
    "The prompt registry loads its prompts here (``gateway.features.prompts.plugin``).",
)

# --- each person's OAuth to upstreams other than MCP servers (A2A agents) ---


class OAuthRequired(Exception):
    """The person acting has no usable token for a target (never connected, refresh
    refused, revoked, or a key someone else minted for them): ``why``, and the console
    page where they connect. No token, code or state in it."""

    def __init__(self, target: OAuthTarget, why: str) -> None:
        super().__init__(f"{target.label}: {why}")
        self.target = target
        self.why = why


class OAuthUnavailable(Exception):
    """The target's authorization server could not be reached or refused the gateway;
    ``str()`` is safe to show."""


class UpstreamOAuth(Protocol):
    """Per-person OAuth to an ``OAuthTarget``: the MCP unit's machinery (discovery,
    clients, the connect flow, tokens sealed per person, refresh), shared."""

    async def bearer(self, target: OAuthTarget, owner: int | None, holder: int | None) -> str:
        """The access token to send for ``owner`` with a credential ``holder`` holds
        (only ``owner``'s own when the holder is the owner: ``entries.own_identity``);
        ``OAuthRequired`` / ``OAuthUnavailable``."""
        ...

    def expire(self, target: OAuthTarget, user_id: int, token: str) -> None:
        """The target refused ``token`` (401): the next ``bearer`` refreshes it."""
        ...

    async def connect(self, target: OAuthTarget, user_id: int, redirect_uri: str) -> str:
        """The authorization URL to send the person's browser to (``ValueError``: safe to
        show)."""
        ...

    async def disconnect(self, target: OAuthTarget, user_id: int) -> bool:
        """Revoke and delete the person's tokens; whether the server confirmed it."""
        ...

    def connected(self, kind: str, user_id: int) -> dict[int, Any]:
        """The targets of ``kind`` the person has tokens for: {id: expires_at or None}."""
        ...

    def redirect_uri(self, request: Any) -> str:
        """The console's OAuth callback, where every flow comes back to."""
        ...


upstream_oauth: Registry[UpstreamOAuth] = Registry(
    "upstream_oauth",
    "Each person's OAuth to upstreams that are not MCP servers (an A2A agent with auth "
    "'oauth'): registered by the MCP unit (``gateway.features.mcp.oauth.shared``), read by "
    "the A2A feature (its relay and its connections page). The first entry serves.",
)

oauth_targets: NamedRegistry[Callable[[int], OAuthTarget | None]] = NamedRegistry(
    "oauth_targets",
    "By kind ('agent'): the ``OAuthTarget`` of a target id (None: unknown or no longer "
    "taking OAuth), read by the MCP unit's OAuth flow when a callback, refresh or "
    "disconnect names a target that is not an MCP server; registered by the A2A feature.",
)

# --- secrets (read by gateway.base.secrets.provider_credentials) ---

provider_credential_sources: Registry[Callable[[ProviderEntry], Mapping[str, Any]]] = Registry(
    "provider_credential_sources",
    "Credential-named settings of a provider that its entry does not hold: the params "
    "of its deployments in the snapshot in force (registered by gateway.access.registry "
    "when it loads). Read on the error path only, when what an upstream echoes is "
    "scrubbed of the provider's credentials (providers.wire) and by telemetry's "
    "redaction.",
)

# --- the shared counter service's state (read by gateway.base.counters.CounterBooks) ---

counter_books: NamedRegistry[Callable[[], Any]] = NamedRegistry(
    "counter_books",
    "The books the counter service keeps, by name: a factory each service calls once "
    "when it is made, keeping what it returns as its attribute of that name "
    "(``service.store.limits``). Registered at import by the module that defines the book "
    "(gateway.limits.limits_book, cooldown_book, login_attempts; gateway.core.ledger_book), "
    "which the process serving the counters imports first (``gateway.apps.COUNTER_BOOKS``).",
)

# --- the metrics (read by gateway.telemetry.metrics) ---

journal_stats: Registry[Callable[[], dict[str, int]]] = Registry(
    "journal_stats",
    "Counters of the journal's writer (queued, queued_bytes, written, dropped, failures, "
    "pruned) for GET /metrics: the journal's ``stats`` is registered by the app's "
    "``ready``; metrics sums what every entry returns each time it renders or "
    "publishes, and shows zeros when none is registered. The journal sits above "
    "telemetry, so metrics never imports it.",
)

# --- the process's life, continued (read by gateway.base.lifecycle) ---

starters: Registry[Callable[[], Awaitable[None]]] = Registry(
    "starters",
    "Awaited in registration order once per event loop before the process serves, "
    "before the background tasks: load the registry snapshot and start watching it, "
    "start memory trimming, metrics publishing and the journal's writer. A starter's "
    "long-running part runs as ``lifecycle.spawn(...)``, cancelled at shutdown. Filled "
    "in GatewayConfig.ready; an exception fails the start-up.",
)
drainers: Registry[Callable[[], Awaitable[None]]] = Registry(
    "drainers",
    "Awaited at shutdown right after the requests in flight drained, in registration "
    "order, before the closers: write what is queued (the journal), publish the last "
    "counts (metrics). Filled in GatewayConfig.ready; an exception is logged and the "
    "next one still runs.",
)

# --- outbound HTTP (read by gateway.base.http) ---

http_client_hooks: Registry[Callable[[], Mapping[str, Sequence[Callable[..., Any]]]]] = Registry(
    "http_client_hooks",
    "Called each time the pooled outbound HTTP client is created (once per event loop): "
    "each returns httpx event hooks ({'request': [...], 'response': [...]}) to install "
    "on it, or none. Telemetry's tracing registers its traceparent injection (none when "
    "tracing is off), from GatewayConfig.ready.",
)

# --- the guardrails (read by gateway.core and gateway.features.mcp) ---


class GuardRun(Protocol):
    """The guardrails of one request (``call_guards``), as the pipeline drives them:
    ``before`` after admission, ``gate``/``after``/``stream`` on the answer,
    ``finished`` once when the call's record is complete."""

    translates: bool  # the body may not pass through as received (a rewrite it lacks)
    checks_answer: bool  # post_call guardrails apply: no cached answer is replayed
    withhold_response: bool  # a check rewrote the answer: the upstream's is not journaled

    async def before(self) -> None:
        """pre_call checks (may rewrite the job's request and body, or refuse by
        raising), and the during_call checks started."""
        ...

    async def gate(self) -> None:
        """Wait for the during_call verdict (refuses by raising)."""
        ...

    async def after(self, response: Any) -> Any:
        """The gate, then post_call checks of a whole answer (a ``ChatResponse``):
        the answer, rewritten or not, or a refusal raised."""
        ...

    async def after_passed(self, data: Any, codec: Any) -> Any:
        """``after`` for a passed-through whole answer body ``data`` (``codec``'s, a
        ``PassthroughCodec``): None when it stands as received, else the ``ChatResponse``
        a check rewrote (to render again); a refusal raised."""
        ...

    def stream(self, events: Any) -> Any:
        """The canonical events of a streamed answer, checked as they pass (post_call
        with a bounded hold-back window)."""
        ...

    def passed(self, batches: Any, editor: Any) -> Any:
        """A passed-through stream's pieces (``codecs.base.Piece``, a read's at a
        time), checked as they pass in the upstream's own bytes: the bytes that may go
        and their canonical events, edited by ``editor`` where a check changed them."""
        ...

    def finished(self, record: Any) -> None:
        """The call ended: note the verdicts on the journal ``record``, withhold the
        bodies a guardrail rewrote, cancel checks still running."""
        ...


class CallGuard(Protocol):
    def begin(self, job: Any, route: Any) -> GuardRun | None:
        """Before the job parses its body: take the request's own ``guardrails`` field
        out of it and resolve what applies; None (the common case, and the cost of an
        unguarded request) when nothing does."""
        ...


call_guards: Registry[CallGuard] = Registry(
    "call_guards",
    "The guardrail plane: ``gateway.core.service`` asks each (there is one: "
    "``gateway.features.guardrails.plugin``, registered from ``GatewayConfig.ready``) to "
    "``begin`` a request once its route is known and the key may call it; the first "
    "run returned drives the request's checks.",
)


class SessionGuardRun(Protocol):
    """The guardrails of one Realtime session (``session_guards``): each event checked
    as it passes, a refusal raised as a ``GatewayError`` (the session then ends)."""

    async def client(self, message: str | bytes) -> str | bytes:
        """A client's event: the event to relay upstream (rewritten, or the same)."""
        ...

    async def server(self, message: str | bytes) -> list[str | bytes]:
        """An upstream event: the events to send the client (held back, rewritten)."""
        ...

    def finished(self, record: Any) -> None:
        """The session ended: note the verdicts on its journal ``record``."""
        ...


class SessionGuard(Protocol):
    def begin(
        self, key: Any, route: Any, request_id: str, protocol: str = "realtime"
    ) -> SessionGuardRun | None:
        """A session's checks once its route is known and the key may call it; None (the
        common case, and all an unguarded session costs) when no guardrail applies.
        ``protocol``: the socket's messages, the declared endpoint's name (``realtime``:
        OpenAI's Realtime events, ``realtime_transcription`` / ``realtime_translation``
        those of its transcription and translation sessions; ``gemini_live``: the Live
        API's messages)."""
        ...


session_guards: Registry[SessionGuard] = Registry(
    "session_guards",
    "The guardrails of a relayed session: ``gateway.edge.realtime_socket`` (OpenAI "
    "Realtime) and ``gateway.features.gemini_live`` (the Gemini Live API) ask each to "
    "``begin`` a session once it is open, naming its protocol; the first run returned "
    "checks its text both ways. Filled by ``gateway.features.guardrails.plugin``.",
)


class McpCheck(Protocol):
    """pre_mcp_call on one tool call (``McpGuard.begin``): the arguments before the tool
    runs, the texts it returned after. Either may rewrite (masking) or refuse by raising
    ``GuardrailBlocked`` / ``GuardrailUnavailable`` (``gateway.base.errors``); each verdict is
    noted on the journal row the call belongs to."""

    async def check_call(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments, rewritten or the same object."""
        ...

    async def check_result(self, texts: list[str]) -> list[str]:
        """The result's texts (each text item, in order), rewritten or the same list."""
        ...


class McpGuard(Protocol):
    def begin(
        self,
        key: Any,
        server: str,
        tool: str,
        *,
        route: Any = None,
        call: Any = None,
        record: Any = None,
    ) -> McpCheck | None:
        """The checks of one call of ``tool`` on ``server`` by ``key`` (a ``KeyEntry``),
        or None (the common case, and all an unguarded call costs) when no pre_mcp_call
        guardrail applies. ``call``: the chat request (``gateway.core.call.Call``) a
        hosted tool call belongs to (its route's and its own guardrails apply, and the
        verdicts land on its journal row); ``record``: otherwise, the call's own journal
        record (a ``/mcp`` call's row), whose ``guardrails`` the verdicts fill."""
        ...


mcp_guards: Registry[McpGuard] = Registry(
    "mcp_guards",
    "pre_mcp_call guardrails: ``gateway.features.mcp`` (``/mcp`` through ``calls.call``, hosted MCP "
    "tools and route-attached servers through the hosted loop) asks each to ``begin`` a "
    "tool call, then checks the arguments before the tool runs and its text after. Filled "
    "by ``gateway.features.guardrails.plugin``; empty, or nothing applying, MCP calls cost one "
    "empty check.",
)


class MessageCheck(Protocol):
    """The guardrails of one agent call (``MessageGuard.begin``): the texts of the
    message sent (pre_call and during_call guardrails) and of what came back, each
    streamed event's too (post_call). Either may rewrite (masking) or refuse by raising
    ``GuardrailBlocked`` / ``GuardrailUnavailable``; each verdict is noted on the call's
    journal record."""

    async def check_input(self, texts: list[str]) -> list[str]:
        """The message's text parts, rewritten or the same list."""
        ...

    async def check_output(self, texts: list[str]) -> list[str]:
        """The answer's (or one event's) text parts, rewritten or the same list."""
        ...


class MessageGuard(Protocol):
    def begin(self, key: Any, target: str, *, record: Any = None) -> MessageCheck | None:
        """The checks of one call to ``target`` (an A2A agent, ``a2a:<name>``) by
        ``key``, or None (the common case, and all an unguarded call costs) when no
        guardrail applies: the ``default_on`` ones, the key's and its team's."""
        ...


message_guards: Registry[MessageGuard] = Registry(
    "message_guards",
    "Guardrails on the text parts of agent-to-agent messages: ``gateway.features.a2a`` "
    "asks each to ``begin`` a call, then checks the message before it is relayed and "
    "every answer or streamed event after. Filled by "
    "``gateway.features.guardrails.plugin``; empty, an agent call costs one empty check.",
)


# --- the edge (read by gateway.edge.endpoints and gateway.server.asgi) ---


@dataclass(frozen=True, slots=True)
class ApiRequest:
    """A request to a route a feature added (``api_routes``), as the edge read it: the
    caller's key is usable (the edge refused any other), ``body`` is a POST's JSON
    object (empty for other methods and for a route that reads none)."""

    method: str
    path: str
    query: Mapping[str, str]
    key: KeyEntry
    body: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ApiRoute:
    """A path a feature serves on the API (``api_routes``). ``match(method, path)`` is
    what ``serve`` is given, or something false when the request is not this route's;
    ``serve`` answers a JSON payload, a ``Reply`` or a ``StreamReply`` (followed until
    the client leaves), or raises a ``GatewayError``. ``dialect`` is the codec whose
    envelope its errors take (a refused key's too); ``google_key``: the key may come the
    Google way; ``body_limit``: the bytes of a POST's JSON body it reads (0: none);
    ``serves``: the declarations (``gateway.base.endpoints``) it answers for."""

    name: str
    match: Callable[[str, str], Any]
    serve: Callable[[ApiRequest, Any], Awaitable[Any]]
    dialect: str
    serves: tuple[str, ...]
    google_key: bool = False
    body_limit: int = 0


api_routes: Registry[ApiRoute] = Registry(
    "api_routes",
    "The API paths features serve (their stored objects' resources: stored Responses, "
    "conversations, stored interactions): the edge's route table "
    "(``gateway.edge.endpoints.routes``) tries them after its own rows, resolves the "
    "caller, reads the body and writes the answer; the feature only answers. Filled "
    "from ``GatewayConfig.ready``.",
)


@dataclass(frozen=True, slots=True)
class ApiSocket:
    """A WebSocket a feature serves on the API paths ``paths`` (``api_sockets``): an
    ASGI application, and the declarations (``gateway.base.endpoints``) it serves."""

    paths: tuple[str, ...]
    app: Callable[[dict[str, Any], Any, Any], Awaitable[None]]
    serves: tuple[str, ...]


api_sockets: Registry[ApiSocket] = Registry(
    "api_sockets",
    "The WebSockets features serve on API paths (the Responses API's WebSocket mode): "
    "``gateway.server.asgi`` composes its socket table from them and the Realtime relay, each "
    "refused by a process whose role does not serve it. Filled from "
    "``GatewayConfig.ready``.",
)
