"""What every outbound adapter implements, and the record of one upstream exchange.

An adapter translates the canonical ``ChatRequest`` into its upstream's wire format,
posts it through the pooled client (``gateway.base.http.client()``), and maps the answer
back: ``complete`` returns a ``ChatResponse``; ``stream`` yields canonical
``StreamEvent``s as upstream chunks arrive. Folded, a stream equals what ``complete``
returns for the same upstream answer. Upstream failures raise ``UpstreamError`` (or a
subclass) with the upstream's status and message; the provider secret never appears in
an error message.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from gateway.base.documents import Accepts
from gateway.base.entries import DeploymentEntry, ProviderEntry, RouteEntry
from gateway.base.errors import ConfigurationError, GatewayError
from gateway.base.json_layout import Layout
from gateway.base.pooled_transport import Body
from gateway.base.types import ChatRequest, ChatResponse, StreamEvent, Usage
from gateway.catalog.matching import KindVendor
from gateway.codecs import CODECS
from gateway.codecs.base import ApiVersion, Codec, Piece, StreamEditor
from gateway.providers import kinds
from gateway.providers.kinds import FormHelp, Keyless, Setting


@dataclass(slots=True)
class Exchange:
    """What went over the wire to and from the upstream, for the journal and timing.
    Adapters fill it in; bodies are kept as bytes exactly as sent/received."""

    url: str = ""
    request_body: Body = b""  # (pieces: a passed-through body sent from the caller's)
    status: int = 0
    response_body: bytearray = field(default_factory=bytearray)
    started: float = 0.0
    first_byte: float | None = None
    ended: float | None = None
    usage: Usage = field(default_factory=Usage)
    capture_limit: int = 256 * 1024
    # the caller's body a passed-through body is sent from, where it is unchanged
    # (``relay``, ``forward``: ``json_layout``); None: encoded whole
    origin: Layout | None = None

    def begin(self, url: str, body: Body) -> None:
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


@dataclass(frozen=True, slots=True)
class MediaPost:
    """A request to one of OpenAI's media endpoints (``Provider.media``): ``path`` under
    the API base (``images/generations``, ``images/edits``, ``audio/transcriptions``,
    ``audio/translations``, ``audio/speech``) and ``content`` of ``content_type`` (JSON
    or multipart, as the caller sent it with the model renamed; pieces of the caller's
    body written out one after the other)."""

    path: str
    content: Body
    content_type: str


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request to a vendor's own API (``gateway.features.passthrough``), for
    ``Provider.sign_api_call`` to sign: ``headers`` is added to in place."""

    method: str
    url: str
    body: bytes
    headers: dict[str, str]


class Provider:
    """Base class of outbound adapters: what every adapter does (``complete``,
    ``stream``) and every optional capability, declared here with its default, so the
    service reads a declaration instead of probing an adapter. ``kind`` is its name in
    ``kinds.KINDS``; ``speaks`` is the codec (``gateway.codecs.CODECS``) its upstream
    speaks, so the service passes bodies through untouched when the caller speaks the
    very same codec (None: no wire format, as the built-in echo)."""

    kind: str = ""
    speaks: Codec | None = None
    # ``DECLARED_FACTS``, stated by each kind's class (or its family's base: Gemini and
    # Vertex AI), never inherited from another kind; none has a default here, so a kind
    # that forgets one is refused when loaded (``kinds.adapter_class``):
    # - the documents read as files its upstream carries (``gateway.core.capabilities``
    #   refuses the rest before the call);
    documents: Accepts
    # - which catalog vendor its models are (the catalog's callers pass it on);
    catalog_vendor: KindVendor
    # - what may stand in for its own secret (console readiness); None: nothing does;
    keyless: Keyless | None
    # - its OpenTelemetry ``gen_ai.provider.name``, the well-known value where one fits.
    trace_name: str
    # Its ``/v1/rerank`` body (``gateway.core.rerank.upstream_body``): "cohere",
    # "bedrock", "openai" (a deployment's ``"rerank_api": "tei"``: TEI's); "" serves
    # none, which a kind speaking OpenAI or naming "rerank" in ``also_serves`` may not.
    rerank_shape: str = ""
    # What a provider of this kind is made of (model validation and the console form):
    # whether it must name its upstream, the Provider.settings it reads as defaults under
    # each deployment's params, and the form's help for its fields.
    needs_base_url: bool = True
    # Where calls go when the provider leaves its base URL blank ("": it must give one):
    # the host-credential rule judges references against it (``gateway.web.references``).
    default_base_url: str = ""
    settings_taken: tuple[Setting, ...] = ()
    # Deployment params that decide where this provider's credentials go or which ones
    # are used (endpoints, regions, keys, profiles): only a role that may change the
    # provider may set them (rule ``deployment.params``). LiteLLM's generic names here;
    # kinds that read more add theirs.
    credential_params: frozenset[str] = frozenset(
        {"api_base", "base_url", "api_key", "api_version"}
    )
    # Of the params above, those holding a credential themselves (a key, a token, a
    # service account): secret by declaration (gateway.base.secrets.declared), so the
    # audit log shows them masked whatever they are called.
    secret_params: frozenset[str] = frozenset({"api_key"})
    form_help: FormHelp = FormHelp()
    # Capabilities, each off unless an adapter declares it:
    # - a same-format body may go upstream untouched (``passthrough`` and
    #   ``passthrough_stream`` implemented);
    passes_through: bool = False
    # - the upstream counts a request's tokens (``count_tokens`` implemented);
    counts_tokens: bool = False
    # - OpenAI endpoints besides chat the adapter serves although its upstream speaks
    #   another format (``embeddings`` implemented for "embeddings").
    also_serves: frozenset[str] = frozenset()
    # Deployment health: whether the upstream can list its models (kinds that cannot are
    # checked by ``check_deployment`` instead), and whether it answers any model name
    # (then a model missing from its list is no finding).
    lists_models: bool = True
    # Why ``list_models`` cannot answer for this kind (the console's "test connection").
    models_unlisted: str = ""
    answers_any_model: bool = False
    # The longest answer this kind gives, in tokens, where neither the deployment nor
    # the catalog says (budget holds need a ceiling: gateway/limits/budget_estimate.py)
    max_output_tokens: int | None = None
    # How long this kind's upstream likely keeps a prompt prefix cached after its last
    # use, in seconds (cache-aware routing: gateway/routing/prefix_affinity.py). Five
    # minutes: Anthropic's and Bedrock's documented lifetime, the low end of OpenAI's
    # and Azure's "5 to 10 minutes", and a guess for servers that evict by memory.
    prompt_cache_seconds: float = 300.0
    # Whose signed reasoning this kind's upstream verifies when it comes back in the
    # history (``Thinking.family``: "claude", "openai"); the rest is dropped before the
    # call (``gateway.core.upstream``), so a session that thought on one family and falls
    # back to another never sends it signatures it refuses. Per model where a kind hosts
    # several families: ``verifies_reasoning``.
    reasoning_families: frozenset[str] = frozenset()
    # Upstream API versions (Anthropic's ``anthropic-version`` on every Claude host:
    # ``gateway.codecs.anthropic.versions``), by name; empty: the kind has none to choose.
    # A deployment speaks the one its params name (``version_param``, checked when
    # saved), else the one its catalog entry names, else ``default_api_version``; never
    # the caller's. ``baseline_api_versions``: what a model takes when its catalog entry
    # lists none (None: every version of the kind).
    api_versions: Mapping[str, ApiVersion] = {}
    default_api_version: ApiVersion | None = None
    baseline_api_versions: frozenset[str] | None = None
    version_param: str = ""

    def __init__(self, provider: ProviderEntry) -> None:
        self.provider = provider

    @classmethod
    def missing_facts(cls) -> list[str]:
        """The facts this kind's class leaves undeclared (none for a complete kind)."""
        missing = [name for name in DECLARED_FACTS if not hasattr(cls, name)]
        serves_rerank = cls.speaks is CODECS["openai"] or "rerank" in cls.also_serves
        return missing + (["rerank_shape"] if serves_rerank and not cls.rerank_shape else [])

    def api_version(self, deployment: DeploymentEntry) -> ApiVersion | None:
        """The upstream API version ``deployment`` speaks (None: the kind has none)."""
        if not self.api_versions:
            return None
        named = deployment.params.get(self.version_param) if deployment.params else None
        if not isinstance(named, str) or named not in self.api_versions:
            named = getattr(deployment.catalog, "api_version", None)
        if isinstance(named, str) and named in self.api_versions:
            return self.api_versions[named]
        return self.default_api_version

    @classmethod
    def versions_taken(cls, catalog: Any) -> list[str]:
        """The API versions a model of this kind takes (its catalog entry's list, else
        ``baseline_api_versions``, else all), in the kind's order."""
        listed = getattr(catalog, "api_versions", ()) if catalog is not None else ()
        taken = set(listed) if listed else cls.baseline_api_versions
        return [name for name in cls.api_versions if taken is None or name in taken]

    @classmethod
    def model_problem(cls, model: str) -> str | None:
        """Why ``model`` cannot be a deployment's upstream model on this kind (None: it
        can); asked by ``Deployment.clean`` with ``param_problems``."""
        return None

    @classmethod
    def param_problems(cls, params: Mapping[str, Any], catalog: Any) -> dict[str, str]:
        """Why the deployment params ``params`` cannot be saved for a model whose catalog
        entry is ``catalog`` (None: unknown), by param; asked by ``Deployment.clean``, so
        the console, the API and the import refuse the same values when saved."""
        problems: dict[str, str] = {}
        name = cls.version_param or "anthropic_version"
        if name not in params:
            return problems
        value = params[name]
        if not cls.api_versions:
            problems[name] = f"{cls.kind} upstreams have no API versions to choose"
            return problems
        taken = cls.versions_taken(catalog)
        if not isinstance(value, str) or value not in cls.api_versions:
            problems[name] = f"{value!r} is not an API version (one of {', '.join(taken)})"
        elif value not in taken:
            problems[name] = (
                f"this model does not take API version {value} on {cls.kind} "
                f"(it takes {', '.join(taken)})"
            )
        else:
            refused = sorted(p for p in params if p in cls.api_versions[value].refuses)
            if refused:
                problems[refused[0]] = (
                    f"API version {value} (params.{name}) refuses {', '.join(refused)}: "
                    "take it out or choose another version"
                )
        return problems

    def conform_body(
        self, body: dict[str, Any], deployment: DeploymentEntry
    ) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        """A passed-through ``body`` as ``deployment``'s upstream takes it (its API
        version's rules, the deployment's params), and what was changed as
        ``(field, action, why)``; ``body`` itself, never changed in place, when
        nothing is (the default)."""
        return body, []

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        """The deployment's params its upstream is not sent (its API version or its
        model refuses them), as ``(field, "dropped", why)``: notes, never refusals."""
        return []

    def verifies_reasoning(self, deployment: DeploymentEntry) -> frozenset[str]:
        """The reasoning families ``deployment``'s model verifies (``reasoning_families``
        unless the kind hosts several families)."""
        return self.reasoning_families

    @property
    def dialect(self) -> str:
        """The name of the codec the upstream speaks ("" for none)."""
        return self.speaks.name if self.speaks is not None else ""

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
        skim: bool = False,
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """Yield each upstream SSE event as raw bytes to forward, with the canonical
        events it means (for time to first token, usage and the journal). ``skim``:
        nothing reads the answer's text, so events that are only more text may go on
        unparsed, meaning no canonical event (``CodecProvider.forward``)."""
        raise NotImplementedError

    def passthrough_pieces(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
        editor: StreamEditor,
    ) -> AsyncIterator[list[Piece]]:
        """``passthrough_stream`` for a stream a post_call guardrail checks in its own
        bytes: each upstream event a ``Piece``, those of one read together
        (``CodecProvider.pieces``)."""
        raise NotImplementedError

    def unsupported_params(self, request: ChatRequest, deployment: DeploymentEntry) -> list[str]:
        """Names of canonical parameters set on ``request`` that ``deployment`` does not
        take: ``build_body`` leaves them out, and a route without drop_params refuses
        the request instead."""
        return []

    async def embeddings(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        """``POST /v1/embeddings`` with ``body`` (OpenAI shape); the answer's JSON.
        Served by adapters that speak OpenAI or name "embeddings" in ``also_serves``."""
        raise NotImplementedError

    async def rerank(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> Any:
        """``POST /v1/rerank``: ``body`` (shaped by ``gateway.core.rerank`` for this
        upstream) posted to its rerank endpoint; the answer's JSON. Served by adapters
        that speak OpenAI or name "rerank" in ``also_serves``."""
        raise NotImplementedError

    async def media(
        self, post: MediaPost, deployment: DeploymentEntry, exchange: Exchange
    ) -> tuple[bytes, str]:
        """``post`` to one of OpenAI's media endpoints; the answer's bytes and content
        type. Adapters that speak OpenAI."""
        raise NotImplementedError

    async def media_stream(
        self, post: MediaPost, deployment: DeploymentEntry, exchange: Exchange
    ) -> tuple[str, AsyncIterator[bytes]]:
        """``media`` whose answer is read as it arrives (speech audio, a transcription's
        events): its content type and its body chunks. Raises before returning when the
        upstream refuses; the chunks close the upstream response when they end."""
        raise NotImplementedError

    async def generate_content(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        """A Gemini ``generateContent`` body posted as is (image output asked by
        ``gateway.codecs.openai_media.images``); the answer's JSON. Google adapters
        (``also_serves`` names "images")."""
        raise NotImplementedError

    async def text_completion(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> dict[str, Any]:
        """Legacy ``POST /v1/completions`` with ``body``; the answer's JSON (adapters
        that speak OpenAI)."""
        raise NotImplementedError

    def text_completion_stream(
        self, body: dict[str, Any], deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[tuple[bytes, list[StreamEvent]]]:
        """A legacy completions stream: raw SSE events with their canonical events."""
        raise NotImplementedError

    async def count_tokens(
        self, request: ChatRequest, deployment: DeploymentEntry, body: dict[str, Any]
    ) -> int | None:
        """The upstream's own count (adapters declaring ``counts_tokens``), or None
        where it has no counting endpoint."""
        return None

    # --- the vendor's own API, reached as it is (gateway.features.passthrough) ----------
    # A kind that takes passthrough says where its API's paths hang off for a deployment,
    # which of them a deployment may reach, and signs any request to it; its
    # ``settings_taken`` then holds ``kinds.PASSTHROUGH_SETTINGS``.
    async def api_root(self, deployment: DeploymentEntry) -> str | None:
        """The URL (scheme, host, any path prefix; no trailing ``/``) the vendor API's
        paths are appended to for ``deployment``: what a vendor SDK's base URL would be
        without its version path. None: this kind takes no passthrough."""
        return None

    async def api_scope(self, deployment: DeploymentEntry) -> tuple[str, ...]:
        """The path prefixes under ``api_root`` that ``deployment`` may reach (empty:
        any): what its credentials reach beyond the provider configured (Vertex AI's
        service account: other projects) stays out."""
        return ()

    async def sign_api_call(self, deployment: DeploymentEntry, call: ApiCall) -> None:
        """Add the provider's credentials (and extra headers) to ``call.headers`` for exactly
        this request: a key, a token, or a signature over the method, URL, headers and
        body (SigV4). Raise ``ConfigurationError`` when they cannot be had."""
        raise NotImplementedError(f"{self.kind} providers take no passthrough")

    async def list_models(self) -> list[str]:
        """Model ids the upstream offers (the console's "test connection"); raises
        ``GatewayError`` saying why (``models_unlisted``) for kinds that cannot."""
        raise GatewayError(self.models_unlisted or f"{self.kind} providers cannot list models")

    async def check_deployment(self, deployment: DeploymentEntry) -> str:
        """For kinds that cannot list models: what can be checked of one deployment
        without sending a request (its settings resolve, its credentials load). Returns
        what was checked, in words; raises ``ConfigurationError`` naming the problem."""
        raise GatewayError(f"{self.kind} providers have no deployment check")


_Kind = TypeVar("_Kind")

DECLARED_FACTS = ("documents", "catalog_vendor", "keyless", "trace_name")


def adapter_for(provider: ProviderEntry) -> Provider:
    """The adapter instance for a provider entry (adapters are cheap, stateless); its
    class is the one the kind's line in ``kinds.KINDS`` names."""
    cls = kinds.adapter_class(provider.kind)
    if cls is None:
        raise ConfigurationError(f"provider {provider.name!r} has unknown kind {provider.kind!r}")
    adapter: Provider = cls(provider)
    return adapter


def adapter_with(deployment: DeploymentEntry, kind: Callable[..., _Kind]) -> _Kind | None:
    """The deployment's adapter when it is a ``kind`` (a runtime-checkable protocol, say
    an upstream with a realtime socket), else None (an unknown provider kind too).
    (``kind`` is typed as a callable because mypy takes no protocol for a ``type[T]``.)"""
    try:
        adapter = adapter_for(deployment.provider)
    except GatewayError:
        return None
    return cast(_Kind, adapter) if isinstance(adapter, cast(type, kind)) else None


def with_adapters(route: RouteEntry, kind: Callable[..., object]) -> RouteEntry:
    """``route`` with only its deployments whose adapter is a ``kind`` (the route
    itself when all are)."""
    usable = tuple(d for d in route.deployments if adapter_with(d, kind) is not None)
    if len(usable) == len(route.deployments):
        return route
    return dataclasses.replace(route, deployments=usable)
