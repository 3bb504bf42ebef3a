"""Where each Google kind's Live API socket is and how it is signed (``live_target``):
the Gemini API's under the host root with the key in ``x-goog-api-key`` (never in the
URL), Vertex AI's on the location's host with a bearer token and the model as a full
resource name."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from gateway.features.gemini_live.socket import LiveUpstream
from gateway.providers import google_auth
from gateway.providers.base import adapter_for
from tests.gateway.entries import PROVIDER, deployment


def live(provider: Any) -> LiveUpstream:
    adapter = adapter_for(provider)
    assert isinstance(adapter, LiveUpstream)
    return adapter


async def test_the_gemini_api_socket() -> None:
    provider = dataclasses.replace(
        PROVIDER, kind="gemini", base_url="https://g.example/v1beta/", secret="AIza-k"
    )
    target = deployment("r", "gemini-live-2.5-flash", provider=provider)
    url, headers, model = await live(provider).live_target(target, "v1alpha")
    assert (
        url
        == "wss://g.example/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContent"
    )
    assert headers == {"x-goog-api-key": "AIza-k"} and "AIza-k" not in url
    assert model == "models/gemini-live-2.5-flash"
    pinned = dataclasses.replace(provider, api_version="v1beta")  # the operator's wins
    url, _, _ = await live(pinned).live_target(target, "v1alpha")
    assert ".v1beta.GenerativeService" in url


async def test_the_vertex_ai_socket(monkeypatch: pytest.MonkeyPatch) -> None:
    async def token(source: Any) -> tuple[str, str]:
        return "ya29.token", "proj-of-key"

    monkeypatch.setattr(google_auth, "access_token", token)
    provider = dataclasses.replace(
        PROVIDER, kind="vertex_ai", base_url="", secret="", from_operator=True
    )
    params = {"vertex_project": "proj", "vertex_location": "europe-west4"}
    target = deployment("r", "gemini-live-2.5-flash", provider=provider, params=params)
    url, headers, model = await live(provider).live_target(target, "v1beta")
    assert url == (
        "wss://europe-west4-aiplatform.googleapis.com"
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
    )
    assert headers == {"Authorization": "Bearer ya29.token"}
    assert (
        model
        == "projects/proj/locations/europe-west4/publishers/google/models/gemini-live-2.5-flash"
    )
