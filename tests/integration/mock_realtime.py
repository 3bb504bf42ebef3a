"""A mock Realtime API upstream on 127.0.0.1 (a ``websockets`` server in a daemon
thread), enforcing the documented handshake and speaking the GA events:

- OpenAI: ``/v1/realtime?model=<model>`` with ``Authorization: Bearer <secret>``;
  Azure OpenAI: ``/openai/v1/realtime?model=<deployment>`` with ``api-key: <secret>``,
  or its preview endpoint ``/openai/realtime?api-version=<...-preview>&deployment=
  <deployment>`` (another api-version is a 400, a ``model`` or unknown deployment a 404).
  A wrong or missing key is a 401, a missing or unknown model a 400 (JSON error body),
  another path a 404, the model ``rt-busy`` a 503: the socket never opens.
- On connect: ``session.created`` (the session names its model). ``session.update`` ->
  ``session.updated`` (the model the client named, if any); ``conversation.item.create``
  -> ``conversation.item.created``; ``response.create`` -> ``response.created``, text
  deltas, ``response.output_text.done``, ``response.done`` carrying ``usage`` (text
  and audio tokens, cached input: ``USAGE``; ``response.metadata.delay`` seconds before
  each delta); an unknown event type -> an ``error``
  event (the socket stays open); ``mock.close`` -> the server closes with 1011;
  ``mock.flood`` (``count``, ``size``) -> that many audio deltas, each sent once the
  last one was written (``flood_sent`` counts them: a reader that stops reading stops
  them).

``seen`` keeps every handshake (path, query, headers) and every event received.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.http11 import Request, Response

MODELS = frozenset({"gpt-realtime", "gpt-realtime-mini", "my-rt-deployment"})
OVERLOADED = "rt-busy"  # a model whose handshakes get a 503 (the service is overloaded)
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
        if parts.path == "/v1/realtime":
            given = headers.get("authorization", "")
            ok = given == f"Bearer {self.secret}"
        elif parts.path == "/openai/v1/realtime":
            ok = headers.get("api-key") == self.secret
        elif parts.path == "/openai/realtime":  # Azure's preview endpoint
            if not query.get("api-version", "").endswith("-preview"):
                return _error(HTTPStatus.BAD_REQUEST, "BadRequest", "API version not supported")
            if headers.get("api-key") != self.secret:
                return _error(HTTPStatus.UNAUTHORIZED, "401", "Access denied: invalid key")
            if "model" in query or query.get("deployment") not in MODELS:
                return _error(HTTPStatus.NOT_FOUND, "DeploymentNotFound", "unknown deployment")
            return None
        else:
            return _error(HTTPStatus.NOT_FOUND, "not_found", "unknown path")
        if not ok:
            return _error(HTTPStatus.UNAUTHORIZED, "invalid_api_key", "Incorrect API key")
        if query.get("model") == OVERLOADED:
            return _error(HTTPStatus.SERVICE_UNAVAILABLE, "overloaded", "try again later")
        if query.get("model") not in MODELS:
            return _error(HTTPStatus.BAD_REQUEST, "invalid_model", "missing or unknown model")
        return None

    def _id(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}_{self._counter}"

    async def _session(self, ws: ServerConnection) -> None:
        parts = urlsplit(ws.request.path)  # type: ignore[union-attr]
        query = parse_qs(parts.query)
        model = (query.get("model") or query["deployment"])[0]
        session = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self._id("sess"),
            "model": model,
            "output_modalities": ["audio"],
        }
        await ws.send(self._event("session.created", session=session))
        async for raw in ws:
            event = json.loads(raw)
            self.events.append(event)
            kind = event.get("type")
            if kind == "session.update":
                session = {**session, **(event.get("session") or {})}
                await ws.send(self._event("session.updated", session=session))
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

    def _event(self, kind: str, **fields: Any) -> str:
        return json.dumps({"type": kind, "event_id": self._id("event"), **fields})


def _error(status: HTTPStatus, code: str, message: str) -> Response:
    body = json.dumps({"error": {"type": "invalid_request_error", "code": code,
                                 "message": message, "param": None}}).encode()  # fmt: skip
    headers = Headers([("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return Response(status.value, status.phrase, headers, body)
