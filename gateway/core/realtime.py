"""``/v1/realtime``: one Realtime API session relayed to an OpenAI-compatible upstream.

``open_session`` does what the HTTP path does before a call, from the handshake alone:
the virtual key (revoked, expired), the route named by ``?model=``, the key's
permission for it, the session's tags (the key's and ``x-switchyard-tags``), its rpm
limit and budget (``limits.admit``: one request, a budget hold while the session
lasts), then it connects to a deployment's realtime socket
(OpenAI ``wss://.../v1/realtime?model=<upstream model>`` with ``Authorization``, Azure
``/openai/v1/realtime`` with ``api-key``). The connect is routed as an HTTP stream is
(``routing.run``): the route's strategy picks among its deployments that speak the
Realtime API, a refused or unreachable socket is a failed request of its deployment
(cooldowns), retried on its siblings and the route's fallbacks, and the session's end
gives the deployment's verdict. The caller's key never goes upstream; the provider's
secret never reaches the caller, an event or the journal.

``Session`` then follows the events relayed (``observe_upstream`` /
``observe_client``) for the journal without parsing the big ones: ``response.done``
events are parsed for their ``usage`` (summed by modality: text, audio and image
tokens in, cached or not, text and audio tokens out), ``error`` events for their
message, ``session.created`` / ``session.updated`` get the route's name for the
upstream model's, and a client's ``session.update`` naming a model gets the
deployment's. ``finish`` writes the one journal row of the session: its duration, the
usage, the cost at the deployment's prices (audio and image tokens at the catalog's
prices for them where it has them), the status and how the socket closed.

A conversation's input audio transcription (GA ``audio.input.transcription``, the
beta's ``input_audio_transcription``) is billed by the upstream at the transcription
model's prices, apart from the responses (``InputTranscription``): each ``conversation.
item.input_audio_transcription.completed`` is counted from its ``usage`` (tokens or
seconds) at the prices of the model the upstream's session events name (a route the
client named there gets its deployment on the session's own upstream, as on Azure
OpenAI the field names a deployment of the resource; else the catalog's prices), on
the session's journal row. A route the key may not use there, or one with no deployment
on the session's upstream, is refused with an ``error`` event (the update never goes up).

While the session runs, the cost of each response (and transcription) counts against
the key's (and its team's) budget as soon as it is done (``Session.charge``); when a
budget is spent the relay ends the session.

Two more kinds of session (``Session.kind``) go the same way. A transcription session
(``?intent=transcription``) opens the upstream with the intent and no model (OpenAI's
guide: a URL with a model opens a conversation session, which refuses the transcription
``session.update``); the route named as its transcription model in ``session.update``
gets the deployment's model, and each ``conversation.item.input_audio_transcription.
completed`` is its usage: tokens (priced as above) or seconds of audio. A translation
session (``/realtime/translations``) reports no usage: the seconds of audio the client
appends are measured (24 kHz PCM16, found in the event, never parsed). Seconds are
priced per second (``per_second``: the deployment's ``price_per_second``, else the
catalog's, ``catalog.media.session_per_second``), or journaled unpriced.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from gateway.access import registry
from gateway.base import lifecycle, socket_messages
from gateway.base.asgi import Receive
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry
from gateway.base.errors import (
    ConfigurationError,
    GatewayError,
    GuardrailBlocked,
    GuardrailUnavailable,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    RateLimited,
    UpstreamConnectionError,
    UpstreamError,
)
from gateway.base.types import Usage
from gateway.catalog import media
from gateway.core.call import Call, Caller
from gateway.core.call import authorize as authorize_call
from gateway.core.realtime_secrets import (
    Grant,
    transcriber,
    transcription_holders,
)
from gateway.limits import budget_estimate, limits, subjects
from gateway.providers.base import adapter_with, with_adapters
from gateway.routing import routing
from gateway.telemetry import tags

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

log = logging.getLogger(__name__)

CONNECT_TIMEOUT = 10.0  # seconds to open the upstream's socket (handshake included)
# Frames the upstream socket takes: audio deltas are base64 of up to seconds of audio.
UPSTREAM_MAX_FRAME = 16 * 1024 * 1024
# Frames read ahead from the upstream while the client is slow (websockets' own bounded
# queue: past it, the library stops reading and TCP pushes back on the upstream).
UPSTREAM_READ_AHEAD = 16
INTENTS = frozenset({"transcription"})
# The sessions relayed: a conversation (``realtime``), a transcription session
# (``/v1/realtime?intent=transcription``) and a translation session
# (``/v1/realtime/translations``), each with the upstream path it opens.
UPSTREAM_PATHS = {
    "realtime": "realtime",
    "transcription": "realtime",
    "translation": "realtime/translations",
}
# A translation session's input: base64 of 24 kHz 16-bit mono PCM (the only input the
# translation guide names), so 48,000 bytes a second.
TRANSLATION_BYTES_PER_SECOND = 48_000
AUDIO_FIELD = '"audio"'
TRANSLATION_APPEND = "session.input_audio_buffer.append"
TRANSCRIBED = "conversation.item.input_audio_transcription.completed"
# What says a session's settings (the model to rewrite): GA and the beta's transcription
# session events
SESSION_EVENTS = (
    "session.created",
    "session.updated",
    "transcription_session.created",
    "transcription_session.updated",
)
# What a normal end of a session looks like (1005: closed without a code).
NORMAL_CLOSES = frozenset({1000, 1001, 1005})


@dataclass(slots=True)
class RealtimeUsage:
    """Tokens summed from every ``response.done`` of a session, by modality; the cached
    input tokens are part of the input tokens of their modality."""

    responses: int = 0
    text_in: int = 0  # text and whatever the details do not name
    audio_in: int = 0
    image_in: int = 0
    cached_text: int = 0
    cached_audio: int = 0
    cached_image: int = 0
    text_out: int = 0
    audio_out: int = 0
    # transcription and translation sessions: the transcriptions done, the seconds of
    # audio (the upstream's ``duration`` usage, or measured: a translation's input)
    transcriptions: int = 0
    audio_seconds: float = 0.0
    audio_seconds_from: str = ""  # "upstream" | "measured"

    def add_transcription(self, usage: Mapping[str, Any]) -> None:
        """A ``conversation.item.input_audio_transcription.completed`` event's ``usage``:
        ``{"type": "tokens", "input_tokens", "input_token_details": {"audio_tokens",
        "text_tokens"}, "output_tokens"}`` or ``{"type": "duration", "seconds"}``."""
        self.transcriptions += 1
        if usage.get("type") == "duration":
            seconds = usage.get("seconds")
            if isinstance(seconds, int | float) and not isinstance(seconds, bool):
                self.audio_seconds += max(float(seconds), 0.0)
                self.audio_seconds_from = "upstream"
            return
        total_in = _int(usage.get("input_tokens"))
        details = usage.get("input_token_details") or {}
        audio = min(_int(details.get("audio_tokens")) if isinstance(details, dict) else 0, total_in)
        self.audio_in += audio
        self.text_in += total_in - audio
        self.text_out += _int(usage.get("output_tokens"))

    def add_audio(self, seconds: float) -> None:
        """Seconds of audio the gateway measured (a translation session's input)."""
        self.audio_seconds += seconds
        self.audio_seconds_from = "measured"

    def add(self, usage: Mapping[str, Any]) -> None:
        self.responses += 1
        inputs = usage.get("input_token_details") or {}
        outputs = usage.get("output_token_details") or {}
        total_in = _int(usage.get("input_tokens"))
        total_out = _int(usage.get("output_tokens"))
        audio_in, image_in = _int(inputs.get("audio_tokens")), _int(inputs.get("image_tokens"))
        audio_in = min(audio_in, total_in)
        image_in = min(image_in, total_in - audio_in)
        text_in = total_in - audio_in - image_in
        text_out, audio_out = _int(outputs.get("text_tokens")), _int(outputs.get("audio_tokens"))
        if not (text_out or audio_out):
            text_out = total_out  # no details: price as text
        cached = min(_int(inputs.get("cached_tokens")), total_in)
        details = inputs.get("cached_tokens_details")
        if isinstance(details, dict):  # cached tokens by modality
            cached_audio = min(_int(details.get("audio_tokens")), audio_in, cached)
            cached_image = min(_int(details.get("image_tokens")), image_in, cached - cached_audio)
            cached_text = min(text_in, cached - cached_audio - cached_image)
        else:  # not said: the text first (the instructions), then audio, then images
            cached_text = min(cached, text_in)
            cached_audio = min(cached - cached_text, audio_in)
            cached_image = min(cached - cached_text - cached_audio, image_in)
        self.text_in += text_in
        self.audio_in += audio_in
        self.image_in += image_in
        self.cached_text += cached_text
        self.cached_audio += cached_audio
        self.cached_image += cached_image
        self.text_out += text_out
        self.audio_out += audio_out

    @property
    def input_tokens(self) -> int:
        return self.text_in + self.audio_in + self.image_in

    @property
    def cached_in(self) -> int:
        return self.cached_text + self.cached_audio + self.cached_image

    @property
    def output_tokens(self) -> int:
        return self.text_out + self.audio_out

    def as_usage(self) -> Usage:
        """The journal's view: cached input apart from the uncached, as for chat."""
        return Usage(
            input_tokens=self.input_tokens - self.cached_in,
            output_tokens=self.output_tokens,
            cache_read_tokens=self.cached_in,
        )


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def per_second(deployment: DeploymentEntry) -> Decimal | None:
    """USD per second of a session's audio: the deployment's ``price_per_second``, else
    the catalog's (``catalog.media.session_per_second``); None: not priced by duration."""
    own = (deployment.params or {}).get("price_per_second")
    if own not in (None, ""):
        try:
            return Decimal(str(own))
        except ArithmeticError:
            return None
    return media.session_per_second(deployment.model)


def cost(deployment: DeploymentEntry, usage: RealtimeUsage) -> Decimal:
    """USD for a session's usage: text at the deployment's token prices; audio at the
    catalog's audio prices, cached audio at its cached-audio price; image input at its
    image prices (cached too). A price the catalog does not have is the text one of
    the same kind (input, cache read, output). Seconds of audio (a transcription
    session's ``duration`` usage, a translation session's input) at ``per_second``, or
    nothing when no price per second is known (the seconds are still journaled)."""
    d = _transcription_prices(deployment) if usage.transcriptions else deployment
    seconds = Decimal(0)
    if usage.audio_seconds:
        each = per_second(d)
        if each is not None:
            seconds = each * Decimal(str(round(usage.audio_seconds, 3)))
    audio_in = d.input_price if d.audio_input_price is None else d.audio_input_price
    audio_out = d.output_price if d.audio_output_price is None else d.audio_output_price
    audio_cached = (
        d.cache_read_price if d.audio_cache_read_price is None else d.audio_cache_read_price
    )
    image_in = d.input_price if d.image_input_price is None else d.image_input_price
    image_cached = (
        d.cache_read_price if d.image_cache_read_price is None else d.image_cache_read_price
    )
    return (
        Decimal(usage.text_in - usage.cached_text) * d.input_price
        + Decimal(usage.cached_text) * d.cache_read_price
        + Decimal(usage.audio_in - usage.cached_audio) * audio_in
        + Decimal(usage.cached_audio) * audio_cached
        + Decimal(usage.image_in - usage.cached_image) * image_in
        + Decimal(usage.cached_image) * image_cached
        + Decimal(usage.text_out) * d.output_price
        + Decimal(usage.audio_out) * audio_out
    ) / Decimal(1_000_000) + seconds


def _transcription_prices(deployment: DeploymentEntry) -> DeploymentEntry:
    """A transcription model's token prices: the deployment's when it has any, else
    the catalog's transcription prices (``catalog.media``: per 1M tokens in, audio or
    text, and out), as ``/v1/audio/transcriptions`` prices the same model."""
    d = deployment
    if d.input_price or d.output_price or d.audio_input_price is not None:
        return d
    table = media.price_of(d.model)
    if table is None or not (table.input or table.output):
        return d
    return dataclasses.replace(
        d, input_price=table.input, audio_input_price=table.input, output_price=table.output
    )


@dataclass
class InputTranscription:
    """A conversation's input audio transcription (GA ``audio.input.transcription``, the
    beta's ``input_audio_transcription``): the upstream runs it with a transcription
    model and bills it at that model's prices, apart from the responses (each
    ``conversation.item.input_audio_transcription.completed`` carries its ``usage``:
    tokens or seconds). Each is priced as it comes, at the model the upstream's last
    session event named: the deployment of the route the client named (``mapped``),
    else the catalog's prices of the upstream's model (``catalog.media``: per token,
    else per second); a model neither knows is journaled unpriced."""

    usage: RealtimeUsage = field(default_factory=RealtimeUsage)
    cost: Decimal = Decimal(0)
    model: str = ""  # the upstream's name of the model transcribing now ("": none)
    # the upstream's model name -> (the route the client named, its deployment here)
    mapped: dict[str, tuple[str, DeploymentEntry]] = field(default_factory=dict)
    charged: int = 0  # the transcriptions whose cost the budget has counted
    unpriced: int = 0  # the transcriptions no price was known for

    @property
    def unpaid(self) -> bool:
        return self.usage.transcriptions != self.charged

    def configured(self, session: dict[str, Any]) -> bool:
        """An upstream session event: note the transcription model it names (none:
        transcription is off) and show the route's name where the client named one.
        Whether the event changed."""
        holders = transcription_holders(session)
        self.model = holders[0]["model"] if holders else ""
        for holder in holders:
            if holder["model"] in self.mapped:
                holder["model"] = self.mapped[holder["model"]][0]
        return any(h["model"] != self.model for h in holders)

    def add(self, usage: Mapping[str, Any], session: DeploymentEntry) -> None:
        """One transcription's ``usage``, priced now (``session``: the session's own
        deployment, whose upstream transcribes)."""
        one = RealtimeUsage()
        one.add_transcription(usage)
        self.usage.add_transcription(usage)
        priced = cost(self.pricing(session), one)
        self.unpriced += priced == 0
        self.cost += priced

    def pricing(self, session: DeploymentEntry) -> DeploymentEntry:
        """The deployment whose prices the current model's transcriptions pay."""
        if self.model in self.mapped:
            return self.mapped[self.model][1]
        return dataclasses.replace(  # the upstream's own model: the catalog's prices
            session,
            model=self.model,
            input_price=Decimal(0),
            output_price=Decimal(0),
            cache_read_price=Decimal(0),
            audio_input_price=None,
            audio_output_price=None,
            audio_cache_read_price=None,
            params={},
            catalog=None,
        )

    def summary(self) -> dict[str, Any]:
        """The journal row's account of them (nothing when there were none)."""
        u = self.usage
        if not u.transcriptions:
            return {}
        model = self.mapped[self.model][0] if self.model in self.mapped else self.model
        shown: dict[str, Any] = {
            "model": model,
            "transcriptions": u.transcriptions,
            "input_tokens": u.input_tokens,
            "output_tokens": u.output_tokens,
            "cost_usd": str(self.cost),
        }
        if u.audio_seconds:
            shown["audio_seconds"] = round(u.audio_seconds, 3)
        if self.unpriced:
            shown["unpriced"] = self.unpriced
        return {"input_transcription": shown}


@dataclass
class Session:
    """One relayed session: its journal record is finished exactly once."""

    call: Call
    route: RouteEntry
    deployment: DeploymentEntry
    upstream: ClientConnection
    kind: str = "realtime"  # realtime | transcription | translation (UPSTREAM_PATHS)
    usage: RealtimeUsage = field(default_factory=RealtimeUsage)
    last_error: str = ""
    responding: int = 0  # responses created and not yet done (for a graceful drain)
    charged: Decimal = Decimal(0)  # the cost counted against the budgets so far
    charged_responses: int = 0  # the responses whose cost is in ``charged``
    charged_transcriptions: int = 0  # likewise the transcriptions
    charged_seconds: float = 0.0  # likewise the seconds of audio
    # a conversation's input audio transcription, billed apart at its model's prices
    heard: InputTranscription = field(default_factory=InputTranscription)
    # the session's guardrails (gateway.features.guardrails.realtime.SessionGuard), set by the
    # relay when any apply: ``client`` / ``server`` check events, ``finished`` notes them
    guard: Any = None

    # -- the budget, response by response --
    @property
    def unpaid(self) -> bool:
        """Whether a ``response.done`` or a transcription came whose cost is not counted
        yet, or a second of audio more was measured."""
        u = self.usage
        return (
            u.responses != self.charged_responses
            or u.transcriptions != self.charged_transcriptions
            or u.audio_seconds - self.charged_seconds >= 1.0
            or self.heard.unpaid
        )

    def cost(self) -> Decimal:
        """USD so far: the session's usage at its deployment's prices, and a
        conversation's input transcriptions at their model's."""
        return cost(self.deployment, self.usage) + self.heard.cost

    async def charge(self) -> RateLimited | None:
        """Count the cost of the responses (transcriptions, seconds of audio) done since
        the last charge against the key's (and its team's) budget now, as the session
        runs; the refusal admission would give when a budget is now spent (the session
        must end), else None."""
        self.charged_responses = self.usage.responses
        self.charged_transcriptions = self.usage.transcriptions
        self.charged_seconds = self.usage.audio_seconds
        self.heard.charged = self.heard.usage.transcriptions
        total = self.cost()
        delta, self.charged = total - self.charged, max(total, self.charged)
        reservation = self.call.reservation
        if reservation is None or delta <= 0:
            return None
        return await reservation.charge(delta)

    # -- events --
    def observe_upstream(self, message: str | bytes) -> str | bytes:
        """Note what an upstream event says; return it, the model name rewritten. Only
        events naming a type of interest are parsed (a substring test first: audio
        deltas, the bulk of a session, are never parsed)."""
        if socket_messages.names(message, "response.done"):
            event = socket_messages.event(message)
            if event is None or event.get("type") != "response.done":
                return message
            self.responding = max(0, self.responding - 1)
            response = event.get("response")
            if not isinstance(response, dict):
                return message
            usage = response.get("usage")
            if isinstance(usage, dict):
                self.usage.add(usage)
            details = response.get("status_details")
            error = details.get("error") if isinstance(details, dict) else None
            if response.get("status") == "failed" and isinstance(error, dict):
                self.last_error = str(error.get("message") or error.get("code") or "")[:500]
            return message
        if socket_messages.names(message, "response.created"):
            event = socket_messages.event(message)
            if event is not None and event.get("type") == "response.created":
                self.responding += 1
            return message
        if self.kind != "translation" and socket_messages.names(message, TRANSCRIBED):
            event = socket_messages.event(message)
            usage = event.get("usage") if event and event.get("type") == TRANSCRIBED else None
            if isinstance(usage, dict) and self.kind == "transcription":
                self.usage.add_transcription(usage)
            elif isinstance(usage, dict):  # a conversation's: at the ASR model's prices
                self.heard.add(usage, self.deployment)
            return message
        if any(socket_messages.names(message, name) for name in SESSION_EVENTS):
            event = socket_messages.event(message)
            session = event.get("session") if event else None
            if not isinstance(session, dict):
                return message
            changed = "model" in session
            if changed:
                session["model"] = self.route.name
            if self.kind == "transcription":  # its model is the transcription's
                changed = _set_transcription_model(session, self.route.name) or changed
            elif self.kind == "realtime":  # the input transcription's model, as named
                changed = self.heard.configured(session) or changed
            return orjson.dumps(event).decode() if changed else message
        if socket_messages.names(message, "error"):
            event = socket_messages.event(message)
            if event and event.get("type") == "error":
                error = event.get("error") or {}
                if isinstance(error, dict):
                    self.last_error = str(error.get("message") or error.get("code") or "")[:500]
        return message

    def observe_client(self, message: str | bytes) -> str | bytes:
        """A client's ``session.update`` naming a model gets the deployment's model (in a
        transcription session, also as the transcription's model: GA's
        ``audio.input.transcription.model``, the beta ``transcription_session.update``'s
        ``input_audio_transcription.model``); a translation session's audio is measured
        (its seconds are what it is priced by) without parsing the event."""
        if self.kind == "translation" and socket_messages.names(message, TRANSLATION_APPEND):
            self.usage.add_audio(_audio_seconds(message))
            return message
        if not socket_messages.names(message, "model"):
            return message
        updates = ("session.update", "transcription_session.update")
        if not any(socket_messages.names(message, name) for name in updates):
            return message
        event = socket_messages.event(message)
        session = event.get("session") if event else None
        if not (event and event.get("type") in updates and isinstance(session, dict)):
            return message
        changed = False
        if isinstance(session.get("model"), str):
            session["model"] = self.deployment.model
            changed = True
        if self.kind == "transcription":
            changed = _set_transcription_model(session, self.deployment.model) or changed
        elif self.kind == "realtime":  # a route named as the input transcription's model
            changed = self._map_transcriber(session) or changed
        return orjson.dumps(event).decode() if changed else message

    def _map_transcriber(self, session: dict[str, Any]) -> bool:
        """A route named as a conversation's input transcription model gets its
        deployment on this session's upstream (the one socket reaches only its own
        upstream; on Azure OpenAI the field names a deployment of the same resource, as
        Azure's Realtime reference says), priced at that deployment's prices; a name no
        route has goes on as the upstream's model name. Raise PermissionDenied for a
        route the key may not use, InvalidRequest for one with no deployment here."""
        changed = False
        for holder in transcription_holders(session):
            name = holder["model"]
            found = transcriber(name, self.call.caller.key, self.deployment)
            if found is not None:
                holder["model"] = found.model
                self.heard.mapped[found.model] = (name, found)
                changed = True
        return changed

    # -- the end --
    def finish(
        self,
        *,
        close_code: int,
        closed_by: str,
        error: str = "",
        cut: bool = False,
        refusal: GatewayError | None = None,
    ) -> None:
        """The session's journal row (once): status 200 for a session that ended
        normally, 502 when the upstream ended it abnormally, 503 when a drain did, the
        refusal's (429) when the gateway ended it because the budget is spent."""
        call, rec = self.call, self.call.record
        if call.done:
            return
        rec.finish_reason = f"{closed_by} closed {close_code}"[:30]
        usage = self.usage.as_usage()
        if self.heard.usage.transcriptions:  # a conversation's input transcriptions
            usage = _plus(usage, self.heard.usage.as_usage())
        failure: GatewayError | None = None
        if refusal is not None:
            status, failure = refusal.status, refusal
            guarded = isinstance(refusal, GuardrailBlocked | GuardrailUnavailable)
            rec.finish_reason = "guardrail" if guarded else "budget exhausted"
        elif cut:
            status, failure = 503, GatewayError("the gateway restarted; the session was closed")
        elif closed_by == "upstream" and close_code not in NORMAL_CLOSES:
            status = 502
            failure = UpstreamError(self.last_error or error or f"upstream closed {close_code}")
        else:
            status = 200
        if self.last_error and failure is None:
            rec.error_message = self.last_error  # the last error event, for the log
        if self.guard is not None:
            self.guard.finished(rec)
        if self.kind != "realtime" or self.heard.usage.transcriptions:
            call.logged_request = orjson.dumps(self.summary())  # its kind and audio, for the log
        priced = self.cost()
        call.finish(
            status=status, usage=usage, finish_reason=rec.finish_reason, error=failure, cost=priced
        )

    def summary(self) -> dict[str, Any]:
        """A session as its journal row's request: a conversation's responses and input
        transcriptions (``InputTranscription.summary``); a transcription or translation
        session's kind, transcriptions and seconds of audio (and where they come from),
        and whether a price per second was known for them."""
        u = self.usage
        if self.kind == "realtime":
            return {"session": "realtime", "responses": u.responses, **self.heard.summary()}
        shown: dict[str, Any] = {"session": self.kind, "transcriptions": u.transcriptions}
        if u.audio_seconds:
            shown["audio_seconds"] = round(u.audio_seconds, 3)
            shown["audio_seconds_from"] = u.audio_seconds_from
            shown["priced_per_second"] = per_second(self.deployment) is not None
        return shown


def _set_transcription_model(session: dict[str, Any], model: str) -> bool:
    """Name ``model`` as a transcription session's model where its settings name one.
    Whether one was named."""
    holders = transcription_holders(session)
    for holder in holders:
        holder["model"] = model
    return bool(holders)


def _plus(a: Usage, b: Usage) -> Usage:
    return Usage(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cache_read_tokens=a.cache_read_tokens + b.cache_read_tokens,
    )


def _audio_seconds(message: str | bytes) -> float:
    """Seconds of a translation session's ``session.input_audio_buffer.append``: the
    length of its base64 ``audio`` (found, not parsed) as 24 kHz 16-bit PCM."""
    text = message if isinstance(message, str) else message.decode("latin-1")
    key = text.find(AUDIO_FIELD)
    colon = text.find(":", key + len(AUDIO_FIELD)) if key >= 0 else -1
    start = text.find('"', colon) + 1 if colon >= 0 else 0
    end = text.find('"', start) if start else -1
    if end < 0:
        return 0.0
    return (end - start) * 3 / 4 / TRANSLATION_BYTES_PER_SECOND


class Refused(Exception):
    """The handshake is refused: ``status`` and the error (in OpenAI's envelope)."""

    def __init__(self, call: Call, error: GatewayError) -> None:
        super().__init__(str(error))
        self.call, self.error = call, error


async def _route(model: str | None) -> RouteEntry:
    if not model:
        raise InvalidRequest("the model query parameter is required: ?model=<model>", param="model")
    route = registry.current().route(model)
    if route is None or not route.enabled:
        await registry.refresh_on_miss()  # created a moment ago in another process?
        route = registry.current().route(model)
    if route is None or not route.enabled:
        raise ModelNotFound(f"model {model!r} not found", param="model", code="model_not_found")
    return route


@runtime_checkable
class RealtimeUpstream(Protocol):
    """A provider adapter whose upstream has a realtime socket."""

    def realtime_target(
        self, deployment: DeploymentEntry, query: Mapping[str, str], path: str = "realtime"
    ) -> tuple[str, dict[str, str]]: ...


SIGNING_HEADERS = frozenset({"authorization", "api-key", "x-api-key"})


def _check_grant(grant: Grant, query: Mapping[str, str], translation: bool) -> None:
    """A client secret opens the session it was made for, nothing else."""
    named = query.get("model")
    if named is not None and named != grant.route:
        raise PermissionDenied(f"this client secret opens sessions of model {grant.route!r}")
    if translation != (grant.kind == "translation"):
        where = "/v1/realtime/translations" if grant.kind == "translation" else "/v1/realtime"
        raise InvalidRequest(f"this client secret opens a {grant.kind} session at {where}")


def _granted(call: Call, route: RouteEntry, grant: Grant) -> RouteEntry:
    """``route`` with only the deployment that issued the grant's ephemeral key (no
    fallbacks: another upstream does not know the key)."""
    found = tuple(d for d in route.deployments if d.id == grant.deployment)
    if not found:
        raise Refused(
            call,
            PermissionDenied("this client secret's upstream no longer serves its model"),
        )
    return dataclasses.replace(route, deployments=found, fallbacks=(), context_window_fallbacks=())


async def admit_session(
    call: Call, key: KeyEntry, route: RouteEntry, headers: Mapping[str, str]
) -> None:
    """A socket session's admission (realtime, Gemini Live): its tags (the key's, the
    x-switchyard-tags header) on its journal row, then the limits, which hold a session's
    budget estimate; raises the GatewayError that refuses it."""
    tags.attribute(call.record, {}, headers, key)
    tagged = subjects.tag_limits(registry.current().tag_limits, call.record.tags)
    hold = budget_estimate.session_hold(key, tagged)
    call.reservation = await limits.admit(
        key, route.name, 0, hold, route_teams=route.teams, tags=tagged
    )


def authorize(caller: Caller) -> tuple[Call, KeyEntry]:
    """The journaled call of a session and its key; raise Refused for a missing or bad
    key (decided from the headers before anything else)."""
    call = Call("realtime", "openai", b"", caller)
    try:
        return call, authorize_call(call)
    except GatewayError as error:
        raise Refused(call, error) from None


async def open_session(
    call: Call,
    key: KeyEntry,
    query: Mapping[str, str],
    headers: Mapping[str, str],
    translation: bool = False,
    grant: Grant | None = None,
) -> Session:
    """Admit the session and connect upstream; raise Refused (the handshake is refused
    with the error's status) or UpstreamError (every deployment failed to connect).
    ``translation``: a translation session (``/v1/realtime/translations``); else
    ``?intent=transcription`` makes it a transcription session. ``grant``: what the
    gateway's client secret the caller came with opens (``realtime_secrets``): its
    route (``?model=`` may name it or nothing else), its kind, its deployment, signed
    with the upstream's ephemeral key."""
    try:
        if grant is not None:
            _check_grant(grant, query, translation)
        route = await _route(grant.route if grant is not None else query.get("model"))
        call.route = route
        intent = query.get("intent")
        if intent is not None and (translation or intent not in INTENTS):
            raise InvalidRequest(f"unknown intent {intent!r}", param="intent")
        await admit_session(call, key, route, headers)
    except GatewayError as error:
        raise Refused(call, error) from None
    plan = with_adapters(route, RealtimeUpstream) if grant is None else _granted(call, route, grant)
    if not any(d.weight > 0 for d in plan.deployments):
        raise Refused(
            call,
            InvalidRequest(
                f"model {route.name!r} cannot serve realtime sessions: none of its upstreams "
                "speaks the Realtime API",
                param="model",
            ),
        )
    kind = "translation" if translation else "transcription" if intent else "realtime"
    kind = grant.kind if grant is not None else kind
    extra = {"intent": "transcription"} if kind == "transcription" else {}
    beta = headers.get("openai-beta")

    async def attempt(target: RouteEntry, deployment: DeploymentEntry) -> ClientConnection:
        call.deployment = deployment
        try:
            secret = grant.secret if grant is not None else None
            return await _connect(deployment, extra, beta, UPSTREAM_PATHS[kind], secret)
        except GatewayError as error:
            log.warning(
                "realtime: %s failed to connect: %s", deployment.label, error.log_message[:300]
            )
            raise

    # as for an HTTP stream: the route's strategy picks, a failed connect is a failed
    # request of its deployment (cooldowns), retried on siblings and fallbacks; the
    # session's end gives the deployment's verdict (``call.stream_outcome``)
    outcome = call.stream_outcome = routing.StreamOutcome()
    upstream = await routing.run(
        registry.current(), plan, attempt, call.record.attempts, key, outcome
    )
    assert call.deployment is not None
    call.release_deployment = routing.hold(call.deployment.id)  # in flight (least_busy)
    session = Session(
        call=call, route=route, deployment=call.deployment, upstream=upstream, kind=kind
    )
    if grant is not None and grant.heard:  # the input transcription route of its settings
        with contextlib.suppress(GatewayError):  # since refused: priced as the upstream names it
            found = transcriber(grant.heard, key, session.deployment)
            if found is not None:
                session.heard.mapped[found.model] = (grant.heard, found)
    return session


async def _connect(
    deployment: DeploymentEntry,
    query: Mapping[str, str],
    beta: str | None,
    path: str,
    secret: str | None = None,
) -> ClientConnection:
    """The upstream's socket; ``secret``: an ephemeral key the upstream issued (a client
    secret's session) signs it in place of the provider's key."""
    adapter = adapter_with(deployment, RealtimeUpstream)
    if adapter is None:  # a fallback's: skipped, never cooled down
        raise ConfigurationError("its upstream does not speak the Realtime API")
    url, headers = adapter.realtime_target(deployment, query, path)
    if secret is not None:
        headers = {k: v for k, v in headers.items() if k.lower() not in SIGNING_HEADERS}
        headers["Authorization"] = f"Bearer {secret}"
    if beta:
        headers["OpenAI-Beta"] = beta
    return await open_upstream(url, headers, "realtime")


async def client_connected(receive: Receive) -> bool:
    """Whether a session socket's client asked to connect (False: it left first); the
    gateway is started when it did. The first steps of both relays' ASGI apps."""
    message = await receive()
    if message["type"] != "websocket.connect":
        return False
    await lifecycle.ensure_started()
    return True


async def open_upstream(url: str, headers: dict[str, str], name: str) -> ClientConnection:
    """The upstream's session socket at ``url`` (``name``: the API's, for the errors):
    bounded frames and read-ahead, no compression, no proxy, opened within
    ``CONNECT_TIMEOUT``; a failure is the UpstreamError routing retries on. The
    websockets client (with the server side uvicorn loads on a first upgrade,
    ``gateway.server.uvicorn_server.lazy_websockets``: about 1.5 MB of a worker, #67)
    is imported here, when a session first opens one."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidHandshake, InvalidStatus

    try:
        return await asyncio.wait_for(
            connect(
                url,
                additional_headers=headers,
                open_timeout=None,
                max_size=UPSTREAM_MAX_FRAME,
                max_queue=UPSTREAM_READ_AHEAD,
                compression=None,
                user_agent_header="switchyard",
                proxy=None,
            ),
            CONNECT_TIMEOUT,
        )
    except TimeoutError:
        raise UpstreamConnectionError(
            f"the upstream's {name} socket did not open in {CONNECT_TIMEOUT:g}s", status=504
        ) from None
    except InvalidStatus as exc:
        status = exc.response.status_code
        raise UpstreamError(
            f"the upstream refused the {name} socket (HTTP {status})", status=status
        ) from None
    except (OSError, InvalidHandshake) as exc:
        raise UpstreamConnectionError(
            f"could not connect to the upstream's {name} socket ({type(exc).__name__})"
        ) from None
