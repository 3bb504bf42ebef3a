"""Registers the Live socket on its paths (``hooks.api_sockets``), declared as the
``gemini_live`` endpoint (``gateway.base.endpoints``). The socket's module is imported on
the first handshake, never at start-up: a gateway nobody opens a Live session on does not
load it."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks, lazy_import

# google-genai's paths: the Gemini API's (any version) and Vertex AI's
GEMINI_PATH = "/ws/google.ai.generativelanguage.{}.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.{}.LlmBidiService/BidiGenerateContent"
GEMINI_VERSIONS = ("v1beta", "v1alpha", "v1")
VERTEX_VERSIONS = ("v1beta1", "v1")
PATHS = (
    *(GEMINI_PATH.format(v) for v in GEMINI_VERSIONS),
    *(VERTEX_PATH.format(v) for v in VERTEX_VERSIONS),
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    socket = await lazy_import.loaded("gateway.features.gemini_live.socket")
    await socket.app(scope, receive, send)


SOCKET = hooks.ApiSocket(PATHS, app, ("gemini_live",))


def register() -> None:
    hooks.api_sockets.register(SOCKET)
