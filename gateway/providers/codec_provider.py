"""A provider driven by an upstream codec: the one HTTP path for every HTTP adapter
(Anthropic, OpenAI-compatible and Azure, Gemini, Vertex AI, Bedrock, Cohere, the
Responses API upstream).

A subclass says only how to reach its upstream: ``codec`` (what is said), ``endpoint``
(where), ``sign`` (auth headers, possibly computed from the exact bytes sent, as SigV4
needs, or from a cached OAuth token, as Vertex AI needs), and where it differs the
codec's ``target``, the caller headers it takes (``forwarded``; ``relayed`` on
passthrough) and the Accept header of a stream (``stream_accept``). Posting, streaming,
de-framing the stream, recording the ``Exchange`` (the upstream's bytes as received,
its status, the usage its answer or stream reports) and mapping failures happen here,
the same way for every adapter: a new upstream is a codec package plus a small subclass.
What the upstream's format lacks (stop sequences, a small ``max_tokens``, media by URL)
is done before and around the call by the pipeline (``gateway.core.upstream``): an
adapter is HTTP and auth only, handed a request its upstream takes.

A same-format passthrough (``PassthroughCodec``) is written once too: ``relay`` posts a
body as is, ``forward`` streams one event by event; an adapter with more endpoints of
its format (OpenAI's legacy completions and embeddings) calls them with another URL.

Errors follow the adapters' contract (``providers.base``): an upstream failure raises
``UpstreamError`` until the first stream event is out, and becomes an ``ErrorEvent``
after; a failure to authenticate or sign is a ``ConfigurationError`` (no retry).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

import httpx
import orjson

from gateway.base import errors, http
from gateway.base import types as t
from gateway.base.entries import DeploymentEntry
from gateway.base.owned_bytes import fitted
from gateway.base.pooled_transport import Answer, AnswerTooLarge, Body, body_chunks
from gateway.base.streaming import (
    EventBatches,
    SkimmingDecoder,
    SSEMessage,
    decoded_lazily,
    sse_bytes,
)
from gateway.base.types import CONTENT_DELTAS, ErrorEvent, TextDelta
from gateway.catalog import capability_flags
from gateway.codecs.base import (
    ApiVersion,
    Codec,
    ModelLister,
    PassthroughCodec,
    Piece,
    PieceDecoder,
    StreamEditor,
    StreamParser,
    Target,
    TextDecoder,
    UpstreamCodec,
    WireEvent,
    WireEventDecoder,
    sse_wire_event,
)
from gateway.providers import wire
from gateway.providers.base import ApiCall, Exchange, Provider
from gateway.providers.passthrough_body import for_deployment

OnChunk = Callable[[bytes], None]

# Pages of an upstream's model list read at most.
MAX_MODEL_PAGES = 50


class Deframer(Protocol):
    """Upstream body chunks -> ``WireEvent``s, a batch at a time: the events each body
    chunk completed (perhaps none), so what arrived together is handled in one go; read
    each batch to its end before asking for the next (an SSE batch is decoded as it is
    read). ``on_chunk`` sees each raw chunk as it arrives (the exchange's record of what
    the upstream sent)."""

    def __call__(
        self, chunks: AsyncIterator[bytes], on_chunk: OnChunk | None = None
    ) -> AsyncIterator[Iterable[WireEvent]]: ...


def sse_events(
    chunks: AsyncIterator[bytes], on_chunk: OnChunk | None = None, *, keep_all: bool = False
) -> AsyncIterator[Iterable[WireEvent]]:
    """Server-sent events as ``WireEvent``s with parsed JSON data; ``[DONE]`` and
    non-JSON keep-alive noise are skipped, or (``keep_all``, the ``sse+done`` framing)
    handed on as ``DONE`` and None. Read straight off the bytes, each event decoded and
    its JSON parsed when the reader reaches it (``decoded_lazily``): a stream's first
    token goes out before the rest of its read is even decoded."""
    return decoded_lazily(chunks, WireEventDecoder("sse+done" if keep_all else "sse"), on_chunk)


def one_at_a_time(
    deframe: Callable[..., AsyncIterator[WireEvent]],
) -> Deframer:
    """A ``Deframer`` from one that yields single events (AWS event streams, whose
    messages are decoded one by one)."""

    async def batches(
        chunks: AsyncIterator[bytes], on_chunk: OnChunk | None = None
    ) -> AsyncIterator[list[WireEvent]]:
        async for wire_event in deframe(chunks, on_chunk):
            yield [wire_event]

    return batches


# Framing name (``codecs.base.Framing``) -> de-framer. Providers whose upstream frames
# streams otherwise (AWS event streams) add theirs on import.
DEFRAMERS: dict[str, Deframer] = {
    "sse": sse_events,
    "sse+done": functools.partial(sse_events, keep_all=True),
}
SSE_FRAMINGS = frozenset({"sse", "sse+done"})  # the framings ``sse_events`` reads


def target_of(
    deployment: DeploymentEntry,
    host: str = "",
    version: ApiVersion | None = None,
) -> Target:
    """The codec's view of a deployment (no secrets, no Django objects); ``host`` is the
    upstream's host name where a codec adapts to it, ``version`` the API version it
    speaks (``Provider.api_version``). Its params leave out those the model refuses
    (``refuses``; ``CodecProvider.dropped_params`` notes them). Made once per registry
    entry: a
    translated request asks for it twice (the body, the lossiness notes), and the
    entries are frozen and replaced, not changed, when the registry is."""
    key = (id(deployment), host, version.name if version is not None else "")
    known = _targets.get(key)
    flags = capability_flags.FLAGS  # (the declaration it was made by: tests change it)
    if known is not None and known[0] is deployment and known[2] is flags:
        return known[1]  # (the entry is held: its id is its own)
    refused, adaptive = _model_rules(deployment)
    params = dict(deployment.params or {})
    if refused and params:  # the model refuses them: never sent (``refused_params``)
        params = {k: v for k, v in params.items() if k not in refused}
    target = Target(
        model=deployment.model,
        params=params,
        max_output_tokens=deployment.max_output_tokens,
        **{f.name: bool(getattr(deployment, f.name, f.default)) for f in flags},
        echo_reasoning=bool(getattr(deployment, "echo_reasoning", False)),
        takes_reasoning_effort=bool(getattr(deployment, "takes_reasoning_effort", True)),
        host=host,
        api_version=version,
        refuses=refused,
        adaptive_thinking=adaptive,
    )
    if len(_targets) >= _TARGETS_KEPT:  # old snapshots' entries: let them go
        _targets.clear()
    _targets[key] = (deployment, target, flags)
    return target


_TARGETS_KEPT = 512
_targets: dict[tuple[int, str, str], tuple[DeploymentEntry, Target, object]] = {}


def _model_rules(deployment: DeploymentEntry) -> tuple[frozenset[str], bool]:
    """What the codec reads of the catalog's rules for the model (``catalog.rules``):
    the parameters it refuses outright, and whether it takes adaptive thinking only."""
    catalog = deployment.catalog
    if catalog is None:
        return frozenset(), False
    rules = getattr(catalog, "rules", ())
    refused = set(catalog.rejects) | {r.name for r in rules if r.action == "reject"}
    adaptive = any(r.name == "reasoning.budget_tokens" and r.action == "map" for r in rules)
    return frozenset(refused), adaptive


def refused_params(deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
    """The deployment's params that ``target_of`` leaves out because the model refuses
    them (the catalog's ``rejects`` and ``reject`` rules), as ``Provider.dropped_params``
    notes them."""
    if not deployment.params:
        return []
    refused, _adaptive = _model_rules(deployment)
    return [
        (f"{name} (deployment params)", "dropped", "the model refuses it")
        for name in sorted(refused & set(deployment.params))
    ]


class CodecProvider(Provider):
    """Base for adapters on the codec layout. Subclasses set ``kind``, ``codec`` and
    implement ``endpoint``; override ``sign`` for auth other than none."""

    # The upstream half of ``speaks``, which the shared path drives; a subclass names
    # its ``speaks`` (a registered ``Codec``) or, for a format of its own, just ``codec``.
    codec: UpstreamCodec
    # The Accept header of a streamed call (OpenAI-compatible servers want
    # text/event-stream; others answer a stream whatever Accept says).
    stream_accept = "application/json"
    # Whether ``sign`` reads the body's bytes (a signature over them): a passed-through
    # body is then encoded whole, never sent as pieces of the caller's (``_relayed``).
    signs_body = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "speaks" in cls.__dict__ and cls.speaks is not None:
            assert cls.speaks.upstream is not None, f"{cls.speaks.name} has no upstream half"
            cls.codec = cls.speaks.upstream
        elif "codec" in cls.__dict__:  # a format no registry knows (a test's toy)
            cls.speaks = Codec(cls.codec.name, cls.codec.name, upstream=cls.codec)
        if cls.speaks is not None:
            cls.passes_through = cls.speaks.passes_through

    # -- what a subclass provides ---------------------------------------------------
    def endpoint(self, deployment: DeploymentEntry, stream: bool) -> str:
        """The full URL to post ``deployment``'s request to."""
        raise NotImplementedError

    async def sign(self, method: str, url: str, body: bytes, headers: dict[str, str]) -> None:
        """Add authentication to ``headers`` in place (default: the provider's extra
        headers only). Raise ``ConfigurationError`` when credentials are missing."""
        _secret, extra = wire.credentials(self.provider)
        headers.update(extra)

    async def sign_api_call(self, deployment: DeploymentEntry, call: ApiCall) -> None:
        """A passthrough request is signed as the adapter's own calls are (``sign``);
        kinds whose signature needs the deployment's settings override it."""
        await self.sign(call.method, call.url, call.body, call.headers)

    def timeout(self) -> httpx.Timeout:
        return http.default_timeout(read=self.provider.timeout)

    def target(self, deployment: DeploymentEntry) -> Target:
        """The codec's view of ``deployment`` (a subclass adds what its codec adapts to,
        such as the upstream's host)."""
        return target_of(deployment)

    def dropped_params(self, deployment: DeploymentEntry) -> list[tuple[str, str, str]]:
        """The deployment's params the model refuses (``target_of`` leaves them out)."""
        return refused_params(deployment)

    def forwarded(self, caller: Mapping[str, str]) -> dict[str, str]:
        """The caller's headers this upstream takes (default: none)."""
        return {}

    def for_upstream(
        self, headers: Mapping[str, str], deployment: DeploymentEntry
    ) -> Mapping[str, str]:
        """The caller's headers as ``deployment``'s upstream is to read them (default:
        as they are; an upstream with API versions gets the deployment's, not the
        caller's: ``Provider.api_version``)."""
        return headers

    def relayed(self, caller: Mapping[str, str]) -> dict[str, str]:
        """The caller's headers a passed-through body takes along (default: those
        ``forwarded`` names)."""
        return self.forwarded(caller)

    def models_url(self, page: str) -> str:
        """The URL of one page of the upstream's model list (``page``: the token the
        last page named, "" for the first)."""
        raise NotImplementedError

    # -- the model list: one implementation, the codec reads its format's list ---------
    async def list_models(self) -> list[str]:
        """Model ids the upstream offers: ``models_url`` fetched with the same headers
        and auth as a chat call, read by the codec (``ModelLister``), page by page."""
        lister = self.codec
        if not self.lists_models or not isinstance(lister, ModelLister):
            return await super().list_models()
        names: list[str] = []
        page = ""
        for _ in range(MAX_MODEL_PAGES):  # a bound, in case an upstream repeats its token
            url = self.models_url(page)
            headers = {"Accept": "application/json", **self.forwarded({})}
            await self.sign("GET", url, b"", headers)
            found, page = lister.model_list(await self._get_json("GET", url, headers))
            names += found
            if not page:
                break
        return names

    # -- the shared path ------------------------------------------------------------
    async def _prepare(
        self, request: t.ChatRequest, deployment: DeploymentEntry, stream: bool
    ) -> tuple[str, bytes, dict[str, str]]:
        if request.stream != stream:  # the codec reads the variant from the request
            request = dataclasses.replace(request, stream=stream)
        body = self.codec.build_request(request, self.target(deployment))
        url = self.endpoint(deployment, stream)
        caller = self.for_upstream(request.headers, deployment)
        content, headers = await self._signed(url, body, caller, stream=stream)
        return url, content, headers

    async def _signed(
        self,
        url: str,
        body: dict[str, Any],
        caller: Mapping[str, str],
        *,
        stream: bool = False,
        relay: bool = False,
    ) -> tuple[bytes, dict[str, str]]:
        """The bytes to post and their headers: JSON, the caller's headers this upstream
        takes (``relayed`` on passthrough, else ``forwarded``), signed."""
        content = fitted(orjson.dumps(body))  # held to the journal: not in orjson's buffer
        headers = self._json_headers(caller, stream, relay)
        await self.sign("POST", url, content, headers)
        return content, headers

    def _json_headers(self, caller: Mapping[str, str], stream: bool, relay: bool) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        headers.update(self.relayed(caller) if relay else self.forwarded(caller))
        if stream:
            headers["Accept"] = self.stream_accept
        return headers

    async def _relayed(
        self,
        url: str,
        body: dict[str, Any],
        caller: Mapping[str, str],
        exchange: Exchange,
        stream: bool = False,
    ) -> tuple[Body, dict[str, str]]:
        """``_signed`` for a passed-through ``body``: sent as views of the caller's body
        where it holds the caller's very values (``exchange.origin``, ``json_layout``:
        byte for byte the encode's text, without the encode and its copy of the body),
        unless this kind's signature covers the body's bytes (``signs_body``)."""
        origin = exchange.origin
        pieces = None if origin is None or self.signs_body else origin.pieces(body)
        if pieces is None:
            return await self._signed(url, body, caller, stream=stream, relay=True)
        headers = self._json_headers(caller, stream, True)
        await self.sign("POST", url, b"", headers)  # (no kind signing bodies gets here)
        return pieces, headers

    async def complete(
        self, request: t.ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> t.ChatResponse:
        url, content, headers = await self._prepare(request, deployment, stream=False)
        result = self.codec.parse_response(await self._post_json(url, content, headers, exchange))
        exchange.usage = result.usage
        return result

    async def _post_json(
        self, url: str, content: Body, headers: dict[str, str], exchange: Exchange
    ) -> Any:
        """Post, record the exchange, and hand back the answer's JSON (failures raised
        as the codec reads them)."""
        exchange.begin(url, content)
        _answer, body = await self._post_whole(url, content, headers, exchange)
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError:
            raise errors.UpstreamError("upstream answered with invalid JSON", status=502) from None

    async def _post_whole(
        self, url: str, content: Body, headers: dict[str, str], exchange: Exchange
    ) -> tuple[Answer | httpx.Response, bytes]:
        """Post and read the whole answer (at most ``SWITCHYARD_MAX_ANSWER_BYTES``) into
        the begun ``exchange``, ending it: the answer and its body. The one place a
        whole answer's failure is mapped: a transport failure, an answer too large, an
        error status (as the codec reads it), each raised as an ``UpstreamError``."""
        limit = http.max_answer_bytes()
        try:
            direct = http.pooled()
            if direct is not None:
                answer: Answer | httpx.Response = await direct.post_whole(
                    url, headers, content, self.timeout(), limit
                )
                body = answer.content
            else:
                whole = content if isinstance(content, bytes) else b"".join(content)
                answer, body = await http.post_capped(url, whole, headers, self.timeout(), limit)
        except httpx.TransportError as exc:
            exchange.end()
            raise wire.transport_error(exc, self.provider, url) from exc
        except AnswerTooLarge:
            exchange.end()
            raise errors.UpstreamAnswerTooLarge(
                f"upstream provider {self.provider.name!r} answered with more than {limit} "
                "bytes (SWITCHYARD_MAX_ANSWER_BYTES)"
            ) from None
        exchange.status = answer.status_code
        exchange.received(body)
        exchange.end()
        if answer.status_code >= 400:
            response = answer if isinstance(answer, httpx.Response) else answer.response()
            raise self._error(response, body)
        return answer, body

    def stream(
        self, request: t.ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncIterator[t.StreamEvent]:
        """The upstream's stream as canonical events (what the upstream lacks is
        emulated around it: ``gateway.core.upstream``), made an upstream read at a time
        (``EventBatches``)."""
        return EventBatches(self._stream_batches(request, deployment, exchange))

    async def _stream_batches(
        self, request: t.ChatRequest, deployment: DeploymentEntry, exchange: Exchange
    ) -> AsyncGenerator[list[t.StreamEvent], None]:
        """The events of each upstream read, a list at a time (never an empty one). A
        failure before the first event is raised; after it, the stream ends with an
        ErrorEvent behind the events parsed before it.

        The first content event ends its batch, and so does the next (it shows where
        the first one's last word ends, which a post_call check may wait for): a read
        that brought the whole answer (a fast upstream, a cached one) has its first
        token rendered and written before the rest of that read is decoded and parsed,
        so the rest costs the first token nothing."""
        url, content, headers = await self._prepare(request, deployment, stream=True)
        parser = self.codec.stream_parser()
        decoder = _text_decoder(self.codec, parser)
        yielded = False
        early_tokens = 2  # content events that still end their batch
        pending: list[t.StreamEvent] = []  # parsed, not handed on yet
        exchange.begin(url, content)
        try:
            async with self._answering(url, content, headers, exchange) as response:
                async for wire_events in _upstream_events(
                    response, exchange, self.codec.framing, decoder
                ):
                    for wire_event in wire_events:
                        parsed = None  # the event the parser read, to learn from
                        if isinstance(wire_event, _READ_OFF):  # off its bytes (``decoder``)
                            made: Sequence[t.StreamEvent] = (wire_event,)
                        else:
                            made, parsed = parser.feed(wire_event), wire_event
                        for event in made:
                            if isinstance(event, _NOTED_EVENTS) and self._noted(
                                event, exchange, yielded or bool(pending)
                            ):
                                pending.append(event)
                                yield pending
                                return  # the stream ends at its first error
                            pending.append(event)
                            if early_tokens and isinstance(event, CONTENT_DELTAS):
                                early_tokens -= 1
                                batch, pending = pending, []
                                yielded = True
                                yield batch
                        if parsed is not None and decoder is not None:
                            _learnt(decoder, parser, parsed, made)  # (the first token went)
                    if pending:
                        batch, pending = pending, []
                        yielded = True
                        yield batch
                for event in parser.finish():
                    if isinstance(event, _NOTED_EVENTS):
                        self._noted(event, exchange, yielded or bool(pending))
                    pending.append(event)
                if pending:
                    batch, pending = pending, []
                    yield batch
        except STREAM_FAILURES as exc:
            error = self._stream_failure(exc, url)
            if not yielded and not pending:
                if error is exc:
                    raise
                raise error from exc
            yield [*pending, ErrorEvent(error)]
        finally:
            exchange.end()

    def _noted(self, event: t.StreamEvent, exchange: Exchange, begun: bool) -> bool:
        """A usage-carrying event counted into the exchange; an error hidden of the
        provider's secret and raised when no event came before it, else True: it ends
        the stream."""
        if not isinstance(event, ErrorEvent):
            _count(event, exchange)
            return False
        wire.hide_secret(event.error, self.provider)
        if not begun:
            raise event.error
        return True

    async def post_json(
        self, url: str, body: dict[str, Any], exchange: Exchange, caller: Mapping[str, str]
    ) -> Any:
        """Post ``body`` to another endpoint of this upstream (``url``), signed, with the
        caller's headers it takes, and hand back its JSON answer (failures raised as the
        codec reads them): e.g. the Responses API's ``/responses/compact``."""
        content, sent = await self._signed(url, body, caller)
        return await self._post_json(url, content, sent, exchange)

    # -- bytes in, bytes out (OpenAI's media endpoints) --------------------------------
    async def post_bytes(
        self, url: str, content: Body, content_type: str, exchange: Exchange
    ) -> tuple[bytes, str]:
        """Post ``content`` (any content type) signed; the answer's bytes and content
        type. Failures raised as the codec reads them; the exchange records no body
        (media bodies stay out of the journal: the job logs a summary). ``content`` may
        be pieces of the caller's body: the pooled transport writes them out as they are
        (the OpenAI-compatible upstreams that take media sign no body)."""
        headers = {"Content-Type": content_type, "Accept": "*/*"}
        await self.sign("POST", url, b"", headers)
        exchange.begin(url, b"")
        answer, body = await self._post_whole(url, content, headers, exchange)
        if isinstance(answer, httpx.Response):
            kind = answer.headers.get("content-type", "")
        else:
            kind = _header(answer.raw_headers, b"content-type")
        return body, kind or "application/octet-stream"

    async def stream_bytes(
        self, url: str, content: Body, content_type: str, exchange: Exchange
    ) -> tuple[str, AsyncIterator[bytes]]:
        """Post ``content`` and hand back the answer's content type and its body chunks
        as they arrive (never read whole); an error answer raises here."""
        headers = {"Content-Type": content_type, "Accept": "*/*"}
        await self.sign("POST", url, b"", headers)
        exchange.begin(url, b"")
        try:
            direct = http.pooled()
            if direct is None:
                whole_body = content if isinstance(content, bytes) else b"".join(content)
                request = http.client().build_request(
                    "POST", url, content=whole_body, headers=headers, timeout=self.timeout()
                )
                response = await http.client().send(request, stream=True)
            else:
                response = await direct.post(url, headers, content, self.timeout())
        except httpx.TransportError as exc:
            exchange.end()
            raise wire.transport_error(exc, self.provider, url) from exc
        exchange.status = response.status_code
        if response.status_code >= 400:
            try:
                raw = await response.aread()
            finally:
                await response.aclose()
                exchange.end()
            exchange.received(raw)
            raise self._error(response, raw)
        return response.headers.get("content-type", ""), self._chunks(response, url, exchange)

    async def _chunks(
        self, response: httpx.Response, url: str, exchange: Exchange
    ) -> AsyncIterator[bytes]:
        try:
            async for chunk in body_chunks(response):
                if exchange.first_byte is None:
                    exchange.received(b"")
                yield chunk
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        finally:
            await response.aclose()
            exchange.end()

    # -- same-format passthrough ------------------------------------------------------
    def _passthrough_codec(self) -> PassthroughCodec:
        # ``passes_through`` is the class's isinstance() check, made once: a
        # runtime-checkable Protocol's isinstance() walks its members (4% of a plain
        # request's CPU when it ran on every call).
        if not self.passes_through:
            raise NotImplementedError(f"{self.codec.name} upstreams take no passthrough")
        return self.codec  # type: ignore[return-value]

    async def passthrough(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
    ) -> dict[str, Any]:
        url = self.endpoint(deployment, False)
        caller = self.for_upstream(headers, deployment)
        return await self.relay(url, for_deployment(body, deployment), exchange, caller)

    # These two hand on the generator they make rather than re-yield what it yields: a
    # generator layer less for every read of the stream (and one less to start and close).
    def passthrough_stream(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
        skim: bool = False,
    ) -> AsyncIterator[tuple[bytes, list[t.StreamEvent]]]:
        url = self.endpoint(deployment, True)
        caller = self.for_upstream(headers, deployment)
        return self.forward(url, for_deployment(body, deployment), exchange, caller, skim=skim)

    def passthrough_pieces(
        self,
        body: dict[str, Any],
        deployment: DeploymentEntry,
        exchange: Exchange,
        headers: dict[str, str],
        editor: StreamEditor,
    ) -> AsyncIterator[list[Piece]]:
        url = self.endpoint(deployment, True)
        caller = self.for_upstream(headers, deployment)
        return self.pieces(url, for_deployment(body, deployment), exchange, caller, editor)

    async def relay(
        self, url: str, body: dict[str, Any], exchange: Exchange, caller: Mapping[str, str]
    ) -> dict[str, Any]:
        """Post a same-format ``body`` to ``url`` as is and hand back the upstream's
        JSON answer, its usage read for the journal."""
        codec = self._passthrough_codec()
        content, sent = await self._relayed(url, body, caller, exchange)
        data = await self._post_json(url, content, sent, exchange)
        if not isinstance(data, dict):
            raise errors.UpstreamError("upstream answered with unexpected JSON", status=502)
        failure = codec.answer_error(data)
        if failure is not None:
            wire.hide_secret(failure, self.provider)
            raise failure
        exchange.usage.merge(codec.usage_of(data))
        return data

    async def forward(
        self,
        url: str,
        body: dict[str, Any],
        exchange: Exchange,
        caller: Mapping[str, str],
        skim: bool = False,
    ) -> AsyncIterator[tuple[bytes, list[t.StreamEvent]]]:
        """Stream a same-format ``body`` from ``url``: the upstream events that arrived
        together as the bytes to forward (one piece: one write to the client rather
        than one per event), with their canonical events (for the journal). Events the
        codec withholds are not forwarded; their canonical events go with the next
        item. Fails by raising until something was forwarded, then by a final error
        event in the format's own shape.

        ``skim``: nobody reads the answer's text (no response cache keeps it), so once
        the first text went out, an event that is only more text (``codec.skims``, or a
        ``SkimmingDecoder``'s) is forwarded unparsed: its TextDelta would change nothing
        the journal keeps (usage, finish, errors, the bytes sent); parsing it was most of a stream's cost."""
        codec = self._passthrough_codec()
        content, sent = await self._relayed(
            url, codec.stream_body(body), caller, exchange, stream=True
        )
        parser = codec.stream_parser()
        held: list[t.StreamEvent] = []  # canonical events of withheld upstream events
        yielded = False
        content_out = False  # the first text, tool-argument or thinking delta was handed on
        framing, skims, skimmer = codec.framing, codec.skims, _skimmer(codec, skim)
        exchange.begin(url, content)
        try:
            async with self._answering(url, content, sent, exchange) as response:
                async for batch in _wire_batches(response, exchange, framing, skimmer):
                    out: list[bytes] = []
                    out_events: list[t.StreamEvent] = []
                    failure = None
                    for item in batch:
                        if isinstance(item, bytes):  # only more text, as it came (skimmed)
                            out.append(item)
                            continue
                        if isinstance(item, SSEMessage):  # lazy: skimmed, or read now
                            if content_out and skims(item.event, item.data):
                                out.append(_skimmed(item, skimmer))
                                continue
                            read = sse_wire_event(item, framing)
                            if read is None:
                                continue
                            wire_event = read
                        else:
                            wire_event = item
                        events, failure, wire_event = self._fed(
                            parser, wire_event, not yielded and not out
                        )
                        for event in events:
                            _count(event, exchange)
                        if failure is None and codec.withheld(wire_event, body):
                            held += events
                            continue
                        out.append(sse_bytes(wire_event.text, wire_event.event))
                        out_events += held
                        out_events += events
                        held = []
                        if failure is not None:
                            break
                        if not content_out and _has_content(events):
                            # the first token goes at once, not behind the rest of its read
                            content_out = yielded = True
                            yield (out[0] if len(out) == 1 else b"".join(out)), out_events
                            out, out_events = [], []
                    if out:
                        yielded = True
                        yield (out[0] if len(out) == 1 else b"".join(out)), out_events
                    if failure is not None:
                        return
                if (ending := self._ending(codec, parser, yielded, held)) is not None:
                    yield ending
        except STREAM_FAILURES as exc:
            error = self._failed_midway(exc, url, yielded)
            yield codec.stream_error(error), [ErrorEvent(error)]
        finally:
            exchange.end()

    async def pieces(
        self,
        url: str,
        body: dict[str, Any],
        exchange: Exchange,
        caller: Mapping[str, str],
        editor: StreamEditor,
    ) -> AsyncIterator[list[Piece]]:
        """``forward`` for a stream a post_call guardrail reads (``guardrails.passed``):
        each upstream event a ``Piece`` (the bytes to forward, empty when withheld; its
        canonical events; the event parsed), those of one read together. Once a text
        part has had text, an event only more of it (``codec.skims``) is not parsed:
        the editor reads its text, and ``PieceDecoder`` reads the events like it off
        their bytes. Fails as ``forward`` does."""
        codec = self._passthrough_codec()
        content, sent = await self._relayed(
            url, codec.stream_body(body), caller, exchange, stream=True
        )
        parser = codec.stream_parser()
        skims, text_of = codec.skims, editor.text_of
        decoder = PieceDecoder(codec.skim_keys)
        # the text part open, once a parsed event gave it text (the journal reads the
        text_part = -1  # time to first token off that event), -1 none
        yielded = False
        early_texts = 2
        exchange.begin(url, content)
        try:
            async with self._answering(url, content, sent, exchange) as response:
                chunks = body_chunks(response)
                async for messages in decoded_lazily(chunks, decoder, exchange.received):
                    pieces: list[Piece] = []
                    failure = None
                    for message in messages:
                        # (a Piece: only more text, read off its bytes)
                        piece = message if type(message) is Piece else None
                        if piece is None and text_part >= 0 and skims(message.event, message.data):
                            text = text_of(message.data)
                            if text is not None:
                                raw = sse_bytes(message.data, message.event)
                                piece = Piece(raw, [], None, message, text, text_part)
                                if not decoder.pieces:
                                    decoder.learn(raw, text_part, text)
                        if piece is None:
                            piece, failure, text_part = self._parsed_piece(
                                codec,
                                parser,
                                message,
                                body,
                                exchange,
                                text_part,
                                not yielded and not pieces,
                            )
                            if piece is None:
                                continue
                            if decoder.pieces and text_part != decoder.index:
                                decoder.pieces = ()  # the part it learnt is closed
                        pieces.append(piece)
                        if failure is not None:
                            break
                        if piece.text and early_texts:
                            # the answer's first text, and the next (it shows where the
                            # first one's last word ends), each end a batch: a check may
                            # let the first token out then, not behind the rest of a read
                            # that may hold the whole answer
                            early_texts -= 1
                            yielded = True
                            yield pieces
                            pieces = []
                    if pieces:
                        yielded = True
                        yield pieces
                    if failure is not None:
                        return
                if (ending := self._ending_pieces(codec, parser, yielded)) is not None:
                    yield ending
        except STREAM_FAILURES as exc:
            error = self._failed_midway(exc, url, yielded)
            yield [Piece(codec.stream_error(error), [ErrorEvent(error)])]
        finally:
            exchange.end()

    def _parsed_piece(
        self,
        codec: PassthroughCodec,
        parser: StreamParser,
        message: SSEMessage,
        body: dict[str, Any],
        exchange: Exchange,
        text_part: int,
        nothing_sent: bool,
    ) -> tuple[Piece | None, ErrorEvent | None, int]:
        """``pieces``' event parsed: its piece (None: nothing the parser reads), the
        failure among its events, and the text part open after it (-1 none)."""
        wire_event = sse_wire_event(message, codec.framing)
        if wire_event is None:
            return None, None, text_part
        events, failure, wire_event = self._fed(parser, wire_event, nothing_sent)
        text, part = "", -1
        for event in events:
            _count(event, exchange)
            if isinstance(event, TextDelta):
                text += event.text
                part = text_part = event.index
            elif isinstance(event, _PART_EVENTS):
                text_part = -1
        withheld = failure is None and codec.withheld(wire_event, body)
        raw = b"" if withheld else sse_bytes(wire_event.text, wire_event.event)
        return Piece(raw, events, wire_event.data, message, text, part), failure, text_part

    def _fed(
        self, parser: StreamParser, wire_event: WireEvent, nothing_sent: bool
    ) -> tuple[list[t.StreamEvent], ErrorEvent | None, WireEvent]:
        """One upstream event's canonical events and the failure among them, its secret
        hidden (raised when nothing went to the client yet), with the event as it may
        be forwarded (a failure's secret hidden in it too)."""
        events = parser.feed(wire_event)
        failure = _failure(events)
        if failure is not None:
            wire.hide_secret(failure.error, self.provider)
            if nothing_sent:
                raise failure.error
            wire_event = wire.hide_secret_in_event(wire_event, self.provider)
        return events, failure, wire_event

    def _ending(
        self,
        codec: PassthroughCodec,
        parser: StreamParser,
        yielded: bool,
        held: list[t.StreamEvent],
    ) -> tuple[bytes, list[t.StreamEvent]] | None:
        """What ``forward`` owes after the upstream's last event: the parser's own
        events with those still withheld, or the error of a stream cut short; None
        when nothing is owed."""
        tail, failure = self._owed(parser, yielded)
        if failure is not None:
            return codec.stream_error(failure.error), held + tail
        if tail or held:
            return b"", held + tail
        return None

    def _ending_pieces(
        self, codec: PassthroughCodec, parser: StreamParser, yielded: bool
    ) -> list[Piece] | None:
        """``_ending`` for ``pieces``: the parser's own events, or the error of a stream
        cut short, as the last piece; None when nothing is owed."""
        tail, failure = self._owed(parser, yielded)
        if failure is not None:
            return [Piece(codec.stream_error(failure.error), tail)]
        if tail:
            return [Piece(b"", tail)]
        return None

    def _owed(
        self, parser: StreamParser, yielded: bool
    ) -> tuple[list[t.StreamEvent], ErrorEvent | None]:
        """The events the parser owes at the stream's end, and the failure among them
        (its secret hidden; raised when nothing went to the client yet)."""
        tail = parser.finish()
        failure = _failure(tail)
        if failure is not None:
            wire.hide_secret(failure.error, self.provider)
            if not yielded:
                raise failure.error
        return tail, failure

    def _failed_midway(self, exc: Exception, url: str, yielded: bool) -> errors.UpstreamError:
        """A transport or stream failure as the error to end a stream with; raised
        when nothing went to the client yet."""
        error = self._stream_failure(exc, url)
        if not yielded:
            if error is exc:
                raise exc
            raise error from exc
        return error

    @contextlib.asynccontextmanager
    async def _answering(
        self, url: str, content: Body, headers: dict[str, str], exchange: Exchange
    ) -> AsyncIterator[httpx.Response]:
        """A streamed POST that answered 2xx; an upstream's error status is raised as
        its error, the body it sent recorded."""
        async with self._streamed(url, content, headers) as response:
            exchange.status = response.status_code
            if response.status_code >= 400:
                raw = await response.aread()
                exchange.received(raw)
                raise self._error(response, raw)
            yield response

    @contextlib.asynccontextmanager
    async def _streamed(
        self, url: str, content: Body, headers: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """A POST whose response body is read as it comes, closed on exit: straight on
        the pooled transport when there is one (``http.pooled``), else through the
        client (a test's transport, tracing's hooks: pieces joined, sent with a length)."""
        direct = http.pooled()
        if direct is None:
            whole = content if isinstance(content, bytes) else b"".join(content)
            async with http.client().stream(
                "POST", url, content=whole, headers=headers, timeout=self.timeout()
            ) as response:
                yield response
            return
        response = await direct.post(url, headers, content, self.timeout())
        try:
            yield response
        finally:
            await response.aclose()

    async def _get_json(
        self, method: str, url: str, headers: dict[str, str], content: bytes | None = None
    ) -> dict[str, Any]:
        try:
            response = await http.client().request(
                method, url, content=content, headers=headers, timeout=self.timeout()
            )
        except httpx.TransportError as exc:
            raise wire.transport_error(exc, self.provider, url) from exc
        if response.status_code >= 400:
            raise self._error(response, response.content)
        try:
            data = orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise errors.UpstreamError("upstream answered with invalid JSON", status=502) from None
        if not isinstance(data, dict):
            raise errors.UpstreamError("upstream answered with something other than an object")
        return data

    def _stream_failure(self, exc: Exception, url: str) -> errors.UpstreamError:
        """What a failure while streaming (one of ``STREAM_FAILURES``) is to the caller:
        a transport failure as ``wire`` maps it, an upstream error as it is, anything
        else an event the parser could not read (the upstream's fault)."""
        if isinstance(exc, httpx.TransportError):
            return wire.transport_error(exc, self.provider, url)
        if isinstance(exc, errors.UpstreamError):
            return exc
        return _malformed(exc)

    def _error(self, response: httpx.Response, raw: bytes) -> errors.UpstreamError:
        error = self.codec.parse_error(response.status_code, raw)
        if error.retry_after is None:
            error.retry_after = wire.retry_after(response)
        wire.hide_secret(error, self.provider)
        return error


# What a stream parser raises on an event of the wrong shape (a list where it reads a
# dict, a missing field): the upstream sent a malformed frame.
MALFORMED = (TypeError, ValueError, KeyError, AttributeError, IndexError)
# What ends a stream early: the connection, the upstream's error, a malformed frame.
STREAM_FAILURES = (httpx.TransportError, errors.UpstreamError, *MALFORMED)


def _malformed(exc: Exception) -> errors.UpstreamError:
    return errors.UpstreamError(
        f"the upstream sent a stream event the gateway cannot read ({type(exc).__name__})",
        status=502,
    )


def _header(headers: list[tuple[bytes, bytes]], name: bytes) -> str:
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _wire_batches(
    response: httpx.Response,
    exchange: Exchange,
    framing: str,
    skimmer: SkimmingDecoder | None,
) -> AsyncIterator[Iterable[WireEvent]] | AsyncIterator[Iterable[SSEMessage | bytes]]:
    """The upstream's events a read at a time, each decoded as the loop reaches it:
    when skimming an SSE stream, as ``skimmer`` hands them on (messages, and the bytes of
    the events it skimmed), else as wire events."""
    chunks = body_chunks(response)
    if skimmer is not None:
        return decoded_lazily(chunks, skimmer, exchange.received)
    return DEFRAMERS[framing](chunks, exchange.received)


def _text_decoder(codec: UpstreamCodec, parser: StreamParser) -> TextDecoder | None:
    """The decoder of a translated stream whose events that are only more text are read
    off their bytes (``TextDecoder``): an SSE upstream whose codec names the keys of
    such events' strings and whose parser tells which it reads so; else None."""
    keys = getattr(codec, "skim_keys", None)
    if keys is None or codec.framing not in SSE_FRAMINGS or not hasattr(parser, "text_open"):
        return None
    return TextDecoder(codec.framing, keys)


def _upstream_events(
    response: httpx.Response, exchange: Exchange, framing: str, decoder: TextDecoder | None
) -> AsyncIterator[Iterable[WireEvent | TextDelta | t.UsageEvent]]:
    """A translated stream's upstream events a read at a time, as ``decoder`` hands
    them on (decoded as the loop reaches them), or as the framing's de-framer does."""
    if decoder is not None:
        return decoded_lazily(body_chunks(response), decoder, exchange.received)
    return DEFRAMERS[framing](body_chunks(response), exchange.received)


def _learnt(
    decoder: TextDecoder, parser: Any, wire_event: WireEvent, made: Sequence[t.StreamEvent]
) -> None:
    """After the parser read ``wire_event`` (into ``made``): ``decoder`` forgets the
    events it reads off their bytes when the parser's open text part is no longer the
    one they are more text for, and learns them from an event that was only more text
    (and had no escape in it: one with any is not read so)."""
    if decoder.pieces:
        if parser.text_open() != decoder.index:
            decoder.pieces = ()
        return
    if not made or type(made[0]) is not TextDelta or "\\" in wire_event.text:
        return
    usages = []  # what else the event said: only usage (Gemini's chunks report it each)
    for event in made[1:]:
        if type(event) is not t.UsageEvent:
            return
        usages.append(event.usage)
    index = parser.text_index(wire_event)
    if index is not None and index == made[0].index:
        sent = sse_bytes(wire_event.text, wire_event.event)
        decoder.learn(sent, index, made[0].text, tuple(usages))


def _skimmer(codec: PassthroughCodec, skim: bool) -> SkimmingDecoder | None:
    """The decoder of a skimmed stream (its events a read, those like one ``skims``
    admitted handed on unread), or None: the stream is read whole or not SSE."""
    return SkimmingDecoder(codec.skim_keys) if skim and codec.framing in SSE_FRAMINGS else None


def _skimmed(message: SSEMessage, skimmer: SkimmingDecoder | None) -> bytes:
    """The bytes to forward of an event ``skims`` admitted; the stream's decoder learns
    from them to hand on the events like it unread."""
    sent = sse_bytes(message.data, message.event)
    if skimmer is not None:  # (there is one when skimming)
        skimmer.learn(sent)
    return sent


def _count(event: t.StreamEvent, exchange: Exchange) -> None:
    """Usage a stream reports (in its start event or on its own) into the exchange."""
    usage = event.usage if isinstance(event, _USAGE_EVENTS) else None
    if usage:
        exchange.usage.merge(usage)


# events that carry usage (a tuple: a union written in the call is built at every event)
_USAGE_EVENTS = (t.UsageEvent, t.Start)
# events ``_stream_batches`` looks at: usage counted, an error ends the stream
_NOTED_EVENTS = (t.UsageEvent, t.Start, ErrorEvent)
# what a ``TextDecoder`` hands on of an event it read off its bytes (a tuple: as above)
_READ_OFF = (TextDelta, t.UsageEvent)
# events that leave no text part open for skimming to add to
_PART_EVENTS = (t.PartStart, t.PartStop, t.ToolArgsDelta, t.ThinkingDelta)


# These two loop rather than hand a generator to any() or next(): they run on every
# upstream event of a stream, mostly over one event, where the generator was the cost.
def _has_content(events: list[t.StreamEvent]) -> bool:
    for event in events:  # noqa: SIM110 (any() over a generator is what this saves)
        if isinstance(event, CONTENT_DELTAS):
            return True
    return False


def _failure(events: list[t.StreamEvent]) -> ErrorEvent | None:
    for event in events:
        if isinstance(event, ErrorEvent):
            return event
    return None
