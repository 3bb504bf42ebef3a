"""A mock Realtime API upstream on 127.0.0.1 (a ``websockets`` server in a daemon
thread), enforcing the documented handshake and speaking the GA events:

- OpenAI: ``/v1/realtime?model=<model>`` with ``Authorization: Bearer <secret>``;
  Azure OpenAI: ``/openai/v1/realtime?model=<deployment>`` with ``api-key: <secret>``,
  or its preview endpoint ``/openai/realtime?api-version=<...-preview>&deployment=
  <deployment>`` (another api-version is a 400, a ``model`` or unknown deployment a 404).
  A wrong or missing key is a 401, a missing or unknown model a 400 (JSON error body),
  another path a 404, the model ``rt-busy`` a 503: the socket never opens.
- On connect: ``session.created`` (the session names its model). ``session.update`` ->
  ``session.updated`` (the model the client named, if any; an input transcription model
  it names must be one of the service's: on Azure a transcription deployment's name,
  ``AZURE_TRANSCRIBE_DEPLOYMENTS``, else an ``error`` event);
  ``input_audio_buffer.append`` then ``.commit`` -> ``input_audio_buffer.committed``,
  ``conversation.item.added`` and, with an input transcription model set, its
  transcription's delta and ``completed`` event with its billed ``usage`` (as in a
  transcription session); ``conversation.item.create``
  -> ``conversation.item.created``; ``response.create`` -> ``response.created``, text
  deltas, ``response.output_text.done``, ``response.done`` carrying ``usage`` (text
  and audio tokens, cached input: ``USAGE``; ``response.metadata.delay`` seconds before
  each delta); an unknown event type -> an ``error``
  event (the socket stays open); ``mock.close`` -> the server closes with 1011;
  ``mock.flood`` (``count``, ``size``) -> that many audio deltas, each sent once the
  last one was written (``flood_sent`` counts them: a reader that stops reading stops
  them).

On Azure (``/openai/...``) a transcription socket names no deployment (a deployment or
model with ``intent=transcription``, or a transcription deployment opened as a
conversation, is a 400 ``OperationNotSupported``, as Azure answers) and the session's
transcription model is a transcription deployment's name (``AZURE_TRANSCRIBE_
DEPLOYMENTS``, Azure's Realtime reference).

Transcription and translation sessions, as OpenAI's guides and references describe
them (the shapes are golden fixtures: ``tests/fixtures/openai_realtime/
audio_sessions.json``, each event the mock sends built from its fixture):

- ``/v1/realtime?intent=transcription`` with no model (the guide: a URL with a model
  opens a conversation session, whose ``session.update`` of type ``transcription`` is
  then an ``error`` event): ``session.created`` of a transcription session;
  ``session.update`` must say ``type: "transcription"`` and a transcription model
  (``TRANSCRIBE_BY_TOKENS`` report token usage, ``TRANSCRIBE_BY_DURATION`` seconds);
  ``input_audio_buffer.append`` (base64 of 24 kHz PCM16) then ``input_audio_buffer.commit``
  -> ``input_audio_buffer.committed``, a transcript delta, and ``...completed`` with its
  ``usage``; ``response.create`` is an ``error`` (a transcription session has none).
- ``/v1/realtime/translations?model=gpt-realtime-translate`` (``/openai/v1/...`` on
  Azure): ``session.created`` of a translation session; ``session.update`` may not
  name a model (set at creation); ``session.input_audio_buffer.append`` (whole PCM16
  samples) -> an input transcript delta, an output transcript delta and an output
  audio delta, ``elapsed_ms`` advancing by the audio's length; ``session.close`` ->
  ``session.closed``, then a normal close. Any other event is an ``error``.

``seen`` keeps every handshake (path, query, headers) and every event received.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import json
import os
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

MODELS = frozenset({"gpt-realtime", "gpt-realtime-mini", "my-rt-deployment"})
OVERLOADED = "rt-busy"  # a model whose handshakes get a 503 (the service is overloaded)
TRANSCRIBE_BY_TOKENS = frozenset({"gpt-4o-transcribe", "gpt-4o-mini-transcribe"})
TRANSCRIBE_BY_DURATION = frozenset({"gpt-live-transcribe", "gpt-realtime-whisper", "whisper-1"})
TRANSLATION_MODELS = frozenset({"gpt-realtime-translate"})
# Azure OpenAI's transcription deployments (name -> model): on Azure the transcription
# ``model`` of a session names a deployment of the resource, never a model (Azure's
# Realtime reference, "Azure deviation")
AZURE_TRANSCRIBE_DEPLOYMENTS = {
    "my-transcribe-deployment": "gpt-4o-transcribe",
    "my-live-transcribe": "gpt-live-transcribe",
}
PCM_BYTES_PER_SECOND = 48_000  # 24 kHz, 16-bit, mono
FIXTURES = json.loads(
    (
        Path(__file__).resolve().parent.parent
        / "fixtures"
        / "openai_realtime"
        / "audio_sessions.json"
    ).read_text()
)


def fixture(session: str, name: str) -> dict[str, Any]:
    """A documented event of a ``session`` (transcription, translation): a fresh copy."""
    return copy.deepcopy(FIXTURES[session][name])


USAGE = {
    "total_tokens": 1350,
    "input_tokens": 1100,
    "output_tokens": 250,
    "input_token_details": {
        "text_tokens": 100,
        "audio_tokens": 1000,
        "image_tokens": 0,
        "cached_tokens": 64,
        "cached_tokens_details": {"text_tokens": 32, "audio_tokens": 32, "image_tokens": 0},
    },
    "output_token_details": {"text_tokens": 50, "audio_tokens": 200},
}


@dataclass
class Handshake:
    path: str
    query: dict[str, str]
    headers: dict[str, str]


@dataclass
class MockRealtime:
    secret: str
    handshakes: list[Handshake] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0
    flood_sent: int = 0  # deltas a ``mock.flood`` got out so far
    # ephemeral keys (``ek_...``) the upstream issued for client secrets: each signs a
    # handshake as the secret does
    ephemeral: set[str] = field(default_factory=set)
    # the settings a client secret was created with (by its ephemeral key): a session it
    # opens starts with them, as the upstream's does
    configured: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self._counter = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MockRealtime:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self._stop.set)
        self.thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._main())

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        async with serve(self._session, "127.0.0.1", 0, process_request=self._check) as server:
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
            self.ready.set()
            await self._stop.wait()

    # -- the handshake, as the real service checks it --
    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        parts = urlsplit(request.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        self.handshakes.append(Handshake(parts.path, query, headers))
        if parts.path in ("/v1/realtime", "/v1/realtime/translations"):
            given = headers.get("authorization", "")
            ok = given == f"Bearer {self.secret}" or given[7:] in self.ephemeral
        elif parts.path in ("/openai/v1/realtime", "/openai/v1/realtime/translations"):
            bearer = headers.get("authorization", "")[7:]
            ok = headers.get("api-key") == self.secret or bearer in self.ephemeral
        elif parts.path == "/openai/realtime":  # Azure's preview endpoint
            if not query.get("api-version", "").endswith("-preview"):
                return _error(HTTPStatus.BAD_REQUEST, "BadRequest", "API version not supported")
            if headers.get("api-key") != self.secret:
                return _error(HTTPStatus.UNAUTHORIZED, "401", "Access denied: invalid key")
            if query.get("intent") == "transcription":
                return _azure_transcription(query)
            if "model" in query or query.get("deployment") not in MODELS:
                return _error(HTTPStatus.NOT_FOUND, "DeploymentNotFound", "unknown deployment")
            return None
        else:
            return _error(HTTPStatus.NOT_FOUND, "not_found", "unknown path")
        if not ok:
            return _error(HTTPStatus.UNAUTHORIZED, "invalid_api_key", "Incorrect API key")
        if query.get("model") == OVERLOADED:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "overloaded", "try again later")
        if parts.path.endswith("/translations"):
            if query.get("model") not in TRANSLATION_MODELS:
                return _error(HTTPStatus.BAD_REQUEST, "invalid_model", "not a translation model")
            return None
        if parts.path.startswith("/openai/") and (
            query.get("intent") == "transcription"
            or query.get("model") in AZURE_TRANSCRIBE_DEPLOYMENTS
        ):
            return _azure_transcription(query)
        if query.get("intent") == "transcription" and "model" not in query:
            return None  # a transcription session: its model comes in session.update
        if query.get("model") not in MODELS:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_model", "missing or unknown model")
        return None

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    async def _session(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)  # type: ignore[union-attr]
        query = parse_qs(parts.query)
        if parts.path.endswith("/translations"):
            await self._translation(ws, query["model"][0])
            return
        if "model" not in query and "deployment" not in query:  # intent=transcription
            await self._transcription(ws, azure=parts.path.startswith("/openai/"))
            return
        model = (query.get("model") or query["deployment"])[0]
        session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self._id("sess"),
            "model": model,
            "output_modalities": ["audio"],
        }
        azure = parts.path.startswith("/openai/")
        heard: dict[str, Any] = {"model": None, "buffered": 0}  # input transcription
        bearer = (ws.request.headers.get("Authorization") or "")[7:]  # type: ignore[union-attr]
        if bearer in self.configured:  # a client secret's session: its settings
            settings = {k: v for k, v in self.configured[bearer].items() if k != "model"}
            self._input_transcription({"session": settings}, azure, heard)
            session = {**session, **settings}
        await ws.send(self._event("session.created", session=session))
        async for raw in ws:
            event = json.loads(raw)
            self.events.append(event)
            kind = event.get("type")
            if kind == "session.update":
                if (event.get("session") or {}).get("type") == "transcription":
                    message = "a conversation session cannot become a transcription session"
                    await ws.send(self._invalid(event, message, "session.type"))
                    continue
                refusal = self._input_transcription(event, azure, heard)
                if refusal is not None:
                    await ws.send(refusal)
                    continue
                session = {**session, **(event.get("session") or {})}
                await ws.send(self._event("session.updated", session=session))
            elif kind in ("input_audio_buffer.append", "input_audio_buffer.commit"):
                await self._conversation_audio(ws, event, heard)
            elif kind == "conversation.item.create":
                item = {**event.get("item", {}), "id": self._id("item")}
                await ws.send(self._event("conversation.item.created", item=item))
            elif kind == "response.create":
                metadata = (event.get("response") or {}).get("metadata") or {}
                await self._respond(ws, float(metadata.get("delay") or 0))
            elif kind == "mock.flood":  # many big audio deltas, as fast as they go out
                # random bytes (as audio is): no permessage-deflate shrinks them
                size = int(event.get("size", 1024))
                delta = base64.b64encode(os.urandom(size * 3 // 4)).decode()
                for _ in range(int(event.get("count", 1))):
                    await ws.send(self._event("response.output_audio.delta", delta=delta))
                    self.flood_sent += 1
            elif kind == "mock.close":
                await ws.close(1011, "mock upstream failure")
                return
            else:
                error = {
                    "type": "invalid_request_error",
                    "code": "invalid_value",
                    "message": f"Invalid value: '{kind}'.",
                    "param": "type",
                    "event_id": event.get("event_id"),
                }
                await ws.send(self._event("error", error=error))

    def _input_transcription(
        self, event: dict[str, Any], azure: bool, heard: dict[str, Any]
    ) -> str | None:
        """A conversation's ``session.update`` naming an input transcription model (GA
        ``audio.input.transcription``, the beta's ``input_audio_transcription``): the
        model transcribing its input audio from then on, or the ``error`` event for one
        the service does not have (on Azure: a name that is no transcription deployment
        of the resource)."""
        update = event.get("session") or {}
        ga = ((update.get("audio") or {}).get("input") or {}).get("transcription")
        beta = update.get("input_audio_transcription")
        param = "session.audio.input.transcription.model"
        if beta is not None and ga is None:
            ga, param = beta, "session.input_audio_transcription.model"
        if ga is None:
            return None
        named = ga.get("model")
        model = AZURE_TRANSCRIBE_DEPLOYMENTS.get(named) if azure else named
        if model not in TRANSCRIBE_BY_TOKENS | TRANSCRIBE_BY_DURATION:
            where = "deployment" if azure else "transcription model"
            return self._invalid(event, f"unknown {where} {named!r}", param)
        heard["model"] = model
        return None

    async def _conversation_audio(
        self, ws: ServerConnection, event: dict[str, Any], heard: dict[str, Any]
    ) -> None:
        """A conversation's input audio: appended, then committed as a user item; with an
        input transcription model set, its transcription follows (delta, then
        ``completed`` with the usage the transcription is billed by: tokens, or seconds
        of audio), as in a transcription session."""
        if event["type"] == "input_audio_buffer.append":
            audio = _pcm(event.get("audio"))
            if audio is None:
                await ws.send(self._invalid(event, "audio must be base64 PCM16", "audio"))
            else:
                heard["buffered"] += audio
            return
        if not heard["buffered"]:
            await ws.send(self._invalid(event, "buffer empty", None))
            return
        item = self._id("item")
        committed = fixture("transcription", "input_audio_buffer.committed")
        committed.update(item_id=item, previous_item_id=None)
        await ws.send(self._emit(committed))
        user = {"id": item, "object": "realtime.item", "type": "message", "role": "user",
                "status": "completed", "content": [{"type": "input_audio", "transcript": None}]}  # fmt: skip
        await ws.send(self._event("conversation.item.added", previous_item_id=None, item=user))
        if heard["model"] is not None:
            delta = fixture("transcription", "conversation.item.input_audio_transcription.delta")
            await ws.send(self._emit({**delta, "item_id": item}))
            done = fixture("transcription", "conversation.item.input_audio_transcription.completed")
            done["item_id"] = item
            if heard["model"] in TRANSCRIBE_BY_DURATION:
                seconds = heard["buffered"] / PCM_BYTES_PER_SECOND
                done["usage"] = {"type": "duration", "seconds": seconds}
            await ws.send(self._emit(done))
        heard["buffered"] = 0

    async def _respond(self, ws: ServerConnection, delay: float = 0) -> None:
        rid, iid = self._id("resp"), self._id("item")
        response = {"object": "realtime.response", "id": rid, "status": "in_progress",
                    "output": [], "usage": None}  # fmt: skip
        await ws.send(self._event("response.created", response=response))
        for piece in ("Hello", " there"):
            await asyncio.sleep(delay)
            await ws.send(
                self._event(
                    "response.output_text.delta",
                    response_id=rid,
                    item_id=iid,
                    output_index=0,
                    content_index=0,
                    delta=piece,
                )  # fmt: skip
            )
        await ws.send(
            self._event(
                "response.output_text.done",
                response_id=rid,
                item_id=iid,
                output_index=0,
                content_index=0,
                text="Hello there",
            )  # fmt: skip
        )
        item = {"id": iid, "object": "realtime.item", "type": "message", "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": "Hello there"}]}  # fmt: skip
        done = {**response, "status": "completed", "output": [item], "usage": USAGE}
        await ws.send(self._event("response.done", response=done))

    # -- a transcription session --
    async def _transcription(self, ws: ServerConnection, azure: bool = False) -> None:
        created = fixture("transcription", "session.created")
        session = created["session"]
        session["id"] = self._id("sess")
        await ws.send(self._event("session.created", session=session))
        model: str | None = None
        buffered = 0  # bytes of audio not yet committed
        previous: str | None = None
        async for raw in ws:
            event = json.loads(raw)
            self.events.append(event)
            kind = event.get("type")
            if kind == "session.update":
                update = event.get("session") or {}
                named = (((update.get("audio") or {}).get("input") or {}).get("transcription")
                         or {}).get("model")  # fmt: skip
                # on Azure the model is a transcription deployment's name
                backing = AZURE_TRANSCRIBE_DEPLOYMENTS.get(named) if azure else named
                if update.get("type") != "transcription":
                    await ws.send(self._invalid(event, "session.type must be 'transcription'",
                                                "session.type"))  # fmt: skip
                elif backing not in TRANSCRIBE_BY_TOKENS | TRANSCRIBE_BY_DURATION:
                    where = "deployment" if azure else "transcription model"
                    await ws.send(self._invalid(event, f"unknown {where} {named!r}",
                                                "session.audio.input.transcription.model"))  # fmt: skip
                else:
                    model = backing
                    session["audio"]["input"].update(update["audio"]["input"])
                    await ws.send(self._event("session.updated", session=session))
            elif kind == "input_audio_buffer.append":
                audio = _pcm(event.get("audio"))
                if audio is None:
                    await ws.send(self._invalid(event, "audio must be base64 PCM16", "audio"))
                else:
                    buffered += audio
            elif kind == "input_audio_buffer.commit":
                if model is None or not buffered:
                    why = "no transcription model set" if model is None else "buffer empty"
                    await ws.send(self._invalid(event, why, None))
                    continue
                item = self._id("item")
                committed = fixture("transcription", "input_audio_buffer.committed")
                committed.update(item_id=item, previous_item_id=previous)
                await ws.send(self._emit(committed))
                delta = fixture(
                    "transcription", "conversation.item.input_audio_transcription.delta"
                )
                delta.update(item_id=item)
                await ws.send(self._emit(delta))
                done = fixture(
                    "transcription", "conversation.item.input_audio_transcription.completed"
                )
                done["item_id"] = item
                if model in TRANSCRIBE_BY_DURATION:
                    done["usage"] = {"type": "duration", "seconds": buffered / PCM_BYTES_PER_SECOND}
                await ws.send(self._emit(done))
                previous, buffered = item, 0
            else:  # response.create and the rest: not in a transcription session
                await ws.send(self._invalid(event, f"Invalid value: '{kind}'.", "type"))

    # -- a translation session --
    async def _translation(self, ws: ServerConnection, model: str) -> None:
        created = fixture("translation", "session.created")
        session = created["session"]
        session.update(id=self._id("sess"), model=model)
        await ws.send(self._event("session.created", session=session))
        elapsed = 0  # ms of audio translated
        async for raw in ws:
            event = json.loads(raw)
            self.events.append(event)
            kind = event.get("type")
            if kind == "session.update":
                update = event.get("session") or {}
                if "model" in update or "type" in update:
                    await ws.send(self._invalid(event, "the model is set at session creation",
                                                "session.model"))  # fmt: skip
                    continue
                for side in ("input", "output"):
                    session["audio"][side].update((update.get("audio") or {}).get(side) or {})
                await ws.send(self._event("session.updated", session=session))
            elif kind == "session.input_audio_buffer.append":
                audio = _pcm(event.get("audio"))
                if audio is None:
                    await ws.send(self._invalid(event, "audio must be base64 PCM16", "audio"))
                    continue
                elapsed += audio * 1000 // PCM_BYTES_PER_SECOND
                for name in (
                    "session.input_transcript.delta",
                    "session.output_transcript.delta",
                    "session.output_audio.delta",
                ):
                    out = fixture("translation", name)
                    out["elapsed_ms"] = elapsed
                    await ws.send(self._emit(out))
            elif kind == "session.close":
                await ws.send(self._emit(fixture("translation", "session.closed")))
                await ws.close(1000)
                return
            else:
                await ws.send(self._invalid(event, f"Invalid value: '{kind}'.", "type"))

    def _invalid(self, event: dict[str, Any], message: str, param: str | None) -> str:
        error = {
            "type": "invalid_request_error",
            "code": "invalid_value",
            "message": message,
            "param": param,
            "event_id": event.get("event_id"),
        }
        return self._event("error", error=error)

    def _emit(self, event: dict[str, Any]) -> str:
        """A documented event (a fixture's), with an id of its own."""
        return json.dumps({**event, "event_id": self._id("event")})

    def _event(self, kind: str, **fields: Any) -> str:
        return json.dumps({"type": kind, "event_id": self._id("event"), **fields})


def _azure_transcription(query: dict[str, str]) -> Response | None:
    """Azure's transcription socket names no deployment (its session's transcription
    model does): a deployment or model in the URL, or a transcription deployment opened
    as a conversation, is the 400 Azure answers."""
    if "model" in query or "deployment" in query:
        message = "The realtime operation does not work with the specified model."
        return _error(HTTPStatus.BAD_REQUEST, "OperationNotSupported", message)
    return None


def _pcm(audio: Any) -> int | None:
    """The bytes of base64 PCM16 audio; None for anything else (not base64, half a
    sample)."""
    if not isinstance(audio, str):
        return None
    try:
        data = base64.b64decode(audio, validate=True)
    except (binascii.Error, ValueError):
        return None
    return len(data) if len(data) % 2 == 0 else None


def _error(status: HTTPStatus, code: str, message: str) -> Response:
    body = json.dumps({"error": {"type": "invalid_request_error", "code": code,
                                 "message": message, "param": None}}).encode()  # fmt: skip
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)
