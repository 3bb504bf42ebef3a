"""A mock Gemini Live API upstream on 127.0.0.1 (a ``websockets`` server in a daemon
thread), enforcing what the real service enforces of a session's start:

- the Gemini API's socket, ``/ws/google.ai.generativelanguage.<v1, v1beta or v1alpha>.
  GenerativeService.BidiGenerateContent``, signed with ``x-goog-api-key: <api_key>``; Vertex AI's,
  ``/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent``, with
  ``Authorization: Bearer <token>`` (``token_ok`` says which tokens pass). Any other
  path is a 404; a path under ``/down/`` a 503: the socket never opens.
- The first message must be ``setup`` (else a close 1007, "Request contains an invalid
  argument."); a wrong key closes 1007 ("API key not valid..."), a setup model not in
  the path's format (``models/<id>``; Vertex: ``projects/P/locations/L/publishers/google
  /models/<id>``) or unknown closes 1008, as Google's server does. Then ``setupComplete``.
- A client turn (``clientContent`` with ``turnComplete``, or ``realtimeInput.text``)
  gets the text "Hello there" in two ``modelTurn`` messages, ``generationComplete``,
  then ``turnComplete`` with ``usageMetadata`` (``USAGE``); a turn mentioning "weather"
  in a session whose setup declares tools gets a ``toolCall`` instead (with its
  ``usageMetadata``), and the ``toolResponse`` gets "It is <the response's result>" and
  a turn's end. A turn saying "bye" is answered with a close 1000.

Top-level fields are read in either spelling (``client_content`` or ``clientContent``:
protobuf's JSON takes both, and google-genai sends the first).

``handshakes`` keeps every handshake (path, headers), ``messages`` every client message.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

GEMINI_PATHS = frozenset(
    f"/ws/google.ai.generativelanguage.{v}.GenerativeService.BidiGenerateContent"
    for v in ("v1", "v1beta", "v1alpha")
)
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
MODELS = frozenset({"gemini-live-2.5-flash", "gemini-2.0-flash-live-001"})
USAGE = {
    "promptTokenCount": 1000,
    "responseTokenCount": 200,
    "totalTokenCount": 1200,
    "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 1000}],
    "responseTokensDetails": [{"modality": "TEXT", "tokenCount": 200}],
}


@dataclass
class Handshake:
    path: str
    headers: dict[str, str]


@dataclass
class MockLive:
    api_key: str
    token_ok: Callable[[str], bool] = lambda token: False
    handshakes: list[Handshake] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MockLive:
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
            self.port = server.sockets[0].getsockname()[1]
            self.ready.set()
            await self._stop.wait()

    def _check(self, connection: ServerConnection, request: Request) -> Response | None:
        path = request.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        self.handshakes.append(Handshake(path, headers))
        if path.startswith("/down/"):
            return connection.respond(HTTPStatus.SERVICE_UNAVAILABLE, "unavailable\n")
        if path not in GEMINI_PATHS and path != VERTEX_PATH:
            return connection.respond(HTTPStatus.NOT_FOUND, "not found\n")
        return None

    def _authorized(self, path: str, headers: dict[str, str]) -> bool:
        if path in GEMINI_PATHS:
            return headers.get("x-goog-api-key") == self.api_key
        auth = headers.get("authorization", "")
        return auth.startswith("Bearer ") and self.token_ok(auth[7:])

    @staticmethod
    def _model_ok(path: str, model: Any) -> bool:
        if not isinstance(model, str):
            return False
        if path in GEMINI_PATHS:
            return model.startswith("models/") and model[len("models/") :] in MODELS
        parts = model.split("/")
        return (
            len(parts) == 8
            and parts[0] == "projects"
            and parts[2] == "locations"
            and parts[4:7] == ["publishers", "google", "models"]
            and parts[7] in MODELS
        )

    async def _session(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        path = request.path.split("?", 1)[0]
        headers = {k.lower(): v for k, v in request.headers.raw_items()}
        try:
            first = json.loads(await ws.recv())
        except (ConnectionClosed, ValueError):
            await ws.close(1007, "Request contains an invalid argument.")
            return
        self.messages.append(first)
        setup = first.get("setup") if isinstance(first, dict) else None
        if not isinstance(setup, dict):
            await ws.close(1007, "Request contains an invalid argument.")
            return
        if not self._authorized(path, headers):
            await ws.close(1007, "API key not valid. Please pass a valid API key.")
            return
        if not self._model_ok(path, setup.get("model")):
            await ws.close(
                1008,
                f"{setup.get('model')} is not found for API version v1beta, or is not "
                "supported for bidiGenerateContent.",
            )
            return
        tools = bool(setup.get("tools"))
        await ws.send(json.dumps({"setupComplete": {}}))
        try:
            async for raw in ws:
                message = _camel(json.loads(raw))
                self.messages.append(message)
                said = _said(message)
                if said is not None:
                    if "bye" in said:
                        await ws.close(1000, "")
                        return
                    if tools and "weather" in said:
                        call = {"id": "call-1", "name": "get_weather", "args": {"city": "Paris"}}
                        await ws.send(
                            json.dumps(
                                {"toolCall": {"functionCalls": [call]}, "usageMetadata": USAGE}
                            )
                        )
                        continue
                    await self._answer(ws, ["Hello", " there"])
                elif isinstance(message.get("toolResponse"), dict):
                    answers = message["toolResponse"].get("functionResponses") or [{}]
                    result = (answers[0].get("response") or {}).get("result", "")
                    await self._answer(ws, [f"It is {result}"])
        except ConnectionClosed:
            return

    async def _answer(self, ws: ServerConnection, pieces: list[str]) -> None:
        for piece in pieces:
            content = {"modelTurn": {"role": "model", "parts": [{"text": piece}]}}
            await ws.send(json.dumps({"serverContent": content}))
        await ws.send(json.dumps({"serverContent": {"generationComplete": True}}))
        await ws.send(json.dumps({"serverContent": {"turnComplete": True}, "usageMetadata": USAGE}))


def _camel(message: dict[str, Any]) -> dict[str, Any]:
    """A message's fields named in camelCase (protobuf's JSON takes both spellings, and
    google-genai sends ``client_content``, ``realtime_input``, ``tool_response``)."""
    return {re.sub(r"_([a-z])", lambda m: m[1].upper(), k): v for k, v in message.items()}


def _said(message: dict[str, Any]) -> str | None:
    """A client turn's text, or None when the message is no turn."""
    content = message.get("clientContent")
    if isinstance(content, dict) and content.get("turnComplete"):
        texts = [
            str(part.get("text", ""))
            for turn in content.get("turns") or ()
            for part in turn.get("parts") or ()
        ]
        return " ".join(texts)
    realtime = message.get("realtimeInput")
    if isinstance(realtime, dict) and isinstance(realtime.get("text"), str):
        return str(realtime["text"])
    return None
