"""Request body caps on the paths Django serves (console, login, admin, ``/api``).

Django's ASGI handler reads a request's whole body into a temporary file before any
view runs, so authentication and size checks came after the upload: 300 MiB posted to
``/login/`` were written to disk (4.8 s) before a 403. ``BodyCapApp`` answers 413 from
the ``Content-Length`` before anything is read, and stops a body without one (chunked)
at the cap, answering 413 then. A body that may be larger than a form's (the
playground, the config import, datasets) is taken only from a caller allowed there:
anyone else is answered before it is read (``upload_gate``). The /v1 API has its own
caps (``api_body_cap``, read by ``gateway.edge.endpoints``: SWITCHYARD_MAX_BODY_BYTES,
25 MB of audio) and never comes here.
"""

from __future__ import annotations

from typing import cast

import orjson
from asgiref.sync import sync_to_async
from django.conf import settings

from gateway.base.asgi import ASGIApp, Message, Receive, Scope, Send
from gateway.base.hot_settings import hot
from gateway.edge import upload_gate

# Paths whose bodies may be larger than a form's: the playground sends what the API
# takes (images), the config import uploads a LiteLLM config file.
PLAYGROUND_PREFIX = "/playground/"
UPLOAD_PATHS = ("/routes/import/",)
# Evaluation datasets: files up to 50 MB (console.evals.parsing.MAX_BYTES refuses at
# 50 MB with its own message; the slack is the multipart envelope).
DATASET_PREFIXES = ("/evals/datasets/", "/api/datasets")
DATASET_CAP = 51 * 1024 * 1024


def body_cap(path: str) -> int:
    """The largest body, in bytes, a request to ``path`` may send."""
    if path.startswith(PLAYGROUND_PREFIX):
        return cast(int, settings.SWITCHYARD_MAX_BODY_BYTES)
    if path in UPLOAD_PATHS:
        return cast(int, settings.SWITCHYARD_MAX_UPLOAD_BYTES)
    if path.startswith(DATASET_PREFIXES):
        return DATASET_CAP
    return cast(int, settings.SWITCHYARD_MAX_FORM_BODY_BYTES)


# The /v1 API's multipart media endpoints: OpenAI takes audio files up to 25 MB; the
# body may be that much and its fields and multipart envelope besides.
AUDIO_FILE_CAP = 25 * 1024 * 1024
AUDIO_BODY_CAP = AUDIO_FILE_CAP + 256 * 1024
AUDIO_ENDPOINTS = ("transcription", "translation")


def api_body_cap(endpoint: str) -> int:
    """The largest body, in bytes, an API ``endpoint`` takes."""
    if endpoint in AUDIO_ENDPOINTS:
        return AUDIO_BODY_CAP
    return cast(int, hot.SWITCHYARD_MAX_BODY_BYTES)


def too_large(endpoint: str, limit: int) -> str:
    """What the 413 of a body over ``limit`` says (written only when one is refused)."""
    if endpoint in AUDIO_ENDPOINTS:
        return f"the request body exceeds the limit of {limit} bytes (audio files may be at most 25 MB)"
    return f"the request body exceeds the limit of {limit} bytes"


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def send_too_large(send: Send, cap: int) -> None:
    body = orjson.dumps({"detail": f"the request body exceeds the limit of {cap} bytes"})
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),  # the rest of the body is not read
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def may_exceed_a_form(cap: int, declared: int | None) -> bool:
    """Whether a body to a path with ``cap`` may be larger than a form's: then only a
    caller allowed there may send it (``upload_gate``)."""
    form_cap: int = settings.SWITCHYARD_MAX_FORM_BODY_BYTES
    return cap > form_cap and (declared is None or declared > form_cap)


class BodyCapApp:
    """Wraps Django's ASGI application with ``body_cap`` (see the module's docstring)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = body_cap(scope["path"])
        declared = declared_length(scope)
        if declared is not None and declared > cap:
            await send_too_large(send, cap)
            return
        if may_exceed_a_form(cap, declared):  # who sends it, asked before it is read
            refusal = await sync_to_async(upload_gate.check, thread_sensitive=False)(scope)
            if refusal is not None:
                await upload_gate.send(refusal, send)
                return
        if declared is not None:  # the server delivers no more than it declared
            await self.app(scope, receive, send)
            return
        await CappedBody(cap, receive, send).run(self.app, scope)


class CappedBody:
    """A body without Content-Length, counted as it arrives: past ``cap`` the client
    gets the 413 and the application a disconnect (Django stops reading and answers
    nothing more; anything it still sends is dropped)."""

    def __init__(self, cap: int, receive: Receive, send: Send) -> None:
        self.cap, self._receive, self._send = cap, receive, send
        self.size = 0
        self.refused = False

    async def run(self, app: ASGIApp, scope: Scope) -> None:
        await app(scope, self.receive, self.send)

    async def receive(self) -> Message:
        if self.refused:
            return {"type": "http.disconnect"}
        message = await self._receive()
        if message["type"] == "http.request":
            self.size += len(message.get("body", b""))
            if self.size > self.cap:
                self.refused = True
                await send_too_large(self._send, self.cap)
                return {"type": "http.disconnect"}
        return message

    async def send(self, message: Message) -> None:
        if not self.refused:
            await self._send(message)
