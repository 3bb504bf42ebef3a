"""Where the Live socket is registered (``gateway.features.gemini_live.plugin``): on
google-genai's paths of the Gemini API (each version) and Vertex AI, as the
``gemini_live`` endpoint, its module imported on the first handshake and handed the
connection as it came."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from gateway.base import hooks
from gateway.features.gemini_live import plugin, socket


def test_the_socket_is_on_the_gemini_and_vertex_paths() -> None:
    assert plugin.SOCKET in list(hooks.api_sockets)
    assert plugin.SOCKET.serves == ("gemini_live",)
    assert set(plugin.PATHS) == {
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
        "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
    }


def test_a_connection_is_handed_to_the_socket_module(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[Any, ...]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append((scope, receive, send))

    monkeypatch.setattr(socket, "app", app)
    scope = {"type": "websocket", "path": plugin.PATHS[0]}
    asyncio.run(plugin.app(scope, "receive", "send"))
    assert seen == [(scope, "receive", "send")]
