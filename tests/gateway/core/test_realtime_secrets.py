"""Realtime client secrets (``gateway.core.realtime_secrets``): created through the
pipeline against a mock upstream (``httpx.MockTransport``, answering the documented
shapes), the caller answered the gateway's sealed secret, never the upstream's
ephemeral key; that secret opens its session through the relay (the Realtime mock on
127.0.0.1 taking the ephemeral key as the upstream would) and nothing else."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import httpx2
import openai
import orjson
import pytest
from channels.testing import WebsocketCommunicator
from openai.types.realtime import ClientSecretCreateResponse
from openai.types.realtime.realtime_translation_client_secret_create_response import (
    RealtimeTranslationClientSecretCreateResponse,
)

from gateway import journal
from gateway.access import registry
from gateway.base import http, lifecycle
from gateway.base.entries import MASTER, KeyEntry, ProviderEntry
from gateway.core import realtime_secrets, service
from gateway.core.call import Caller, Reply
from gateway.edge import endpoints, realtime_socket
from tests.gateway.entries import deployment, route, snapshot
from tests.integration.mock_realtime import MockRealtime

SECRET = "sk-mock-realtime-secrets"
EPHEMERAL = "ek_68af296e8e408191a1120ab6383263c2"


@pytest.fixture(scope="module")
def mock() -> Iterator[MockRealtime]:
    server = MockRealtime(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def upstream(mock: MockRealtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Routes ``rt`` (gpt-realtime), ``tr`` (gpt-4o-transcribe), ``tl``
    (gpt-realtime-translate) on the mocks; the requests the HTTP upstream saw (each
    answered as OpenAI documents it, its ephemeral key then good at the socket)."""
    provider = ProviderEntry(9, "mock-rt", "openai", mock.url + "/v1", SECRET, {}, "", None)

    def one(name: str, model: str) -> Any:
        made = route(name, model, provider=provider)
        return dataclasses.replace(made, deployments=(deployment(name, model, provider=provider),))

    installed = registry.current()
    registry.install(
        snapshot(
            one("rt", "gpt-realtime"),
            one("tr", "gpt-4o-transcribe"),
            one("tl", "gpt-realtime-translate"),
            dataclasses.replace(
                one("asr", "gpt-4o-transcribe"),
                deployments=(
                    deployment(
                        "asr",
                        "gpt-4o-transcribe",
                        provider=provider,
                        input_price=Decimal(1),
                        audio_input_price=Decimal(3),
                        output_price=Decimal(4),
                    ),
                ),
            ),
        )  # fmt: skip
    )
    seen: list[Any] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        seen.append((request.url.path, dict(request.headers), body))
        mock.ephemeral.add(EPHEMERAL)
        if isinstance(body.get("session"), dict):
            mock.configured[EPHEMERAL] = body["session"]
        if request.url.path.endswith("/transcription_sessions"):  # the beta's shape
            return httpx.Response(200, json={
                "id": "sess_1", "object": "realtime.transcription_session",
                "client_secret": {"value": EPHEMERAL, "expires_at": 4102444800}, **body})  # fmt: skip
        session = {**body["session"], "id": "sess_1", "expires_at": 0}
        if "type" not in session:
            session["type"] = "translation"
        elif session["type"] == "realtime":
            session["object"] = "realtime.session"
        return httpx.Response(
            200, json={"value": EPHEMERAL, "expires_at": 4102444800, "session": session}
        )

    async def started() -> None:
        return None

    records: list[Any] = []
    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(journal, "record", records.append)
    http.use_transport(httpx.MockTransport(answer))
    yield seen
    http.use_transport(None)
    registry.install(installed)


async def create(body: dict[str, Any], path_kind: str = "openai") -> tuple[int, dict[str, Any]]:
    reply = await service.handle(
        "realtime_client_secret", path_kind, orjson.dumps(body), {}, Caller(key=MASTER)
    )
    assert isinstance(reply, Reply)
    return reply.status, orjson.loads(reply.body)


async def open_with(secret: str, path: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A browser's session: the secret as the key's subprotocol."""
    protocols = ["realtime", f"openai-insecure-api-key.{secret}"]
    communicator = WebsocketCommunicator(realtime_socket.app, path, subprotocols=protocols)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator, json.loads(await communicator.receive_from(timeout=10))


async def close(communicator: WebsocketCommunicator) -> None:
    await communicator.disconnect()
    await communicator.wait(5)


async def test_a_client_secret_is_the_gateways_and_opens_its_session_upstream(
    upstream: list[Any], mock: MockRealtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    records: list[Any] = []
    monkeypatch.setattr(journal, "record", records.append)
    status, answer = await create(
        {
            "expires_after": {"anchor": "created_at", "seconds": 600},
            "session": {"type": "realtime", "model": "rt", "instructions": "be brief"},
        }  # fmt: skip
    )
    assert status == 200, answer
    [(path, headers, body)] = upstream
    assert path == "/v1/realtime/client_secrets"
    assert headers["authorization"] == f"Bearer {SECRET}"
    assert body["session"]["model"] == "gpt-realtime" and "model" not in body
    parsed = ClientSecretCreateResponse.model_validate(answer)  # the SDK reads it
    assert parsed.session.type == "realtime" and parsed.session.model == "rt"
    value = answer["value"]
    assert value.startswith("sy-ek-") and EPHEMERAL not in json.dumps(answer)
    communicator, created = await open_with(value, "/v1/realtime?model=rt")
    assert created["type"] == "session.created" and created["session"]["model"] == "rt"
    handshake = mock.handshakes[-1]
    assert handshake.headers["authorization"] == f"Bearer {EPHEMERAL}"  # not the provider's
    assert value not in json.dumps(handshake.headers)
    await close(communicator)
    made, session = records  # the creation (free), then the session it opened
    assert (made.endpoint, made.route, made.status, made.cost_usd) == (
        "realtime_client_secret", "rt", 200, 0)  # fmt: skip
    assert (session.endpoint, session.route, session.status) == ("realtime", "rt", 200)
    assert session.upstream_model == "gpt-realtime"


async def test_a_transcription_secret_opens_a_transcription_session(
    upstream: list[Any], mock: MockRealtime
) -> None:
    session = {"type": "transcription",
               "audio": {"input": {"transcription": {"model": "tr"}}}}  # fmt: skip
    status, answer = await create({"session": session})
    assert status == 200, answer
    assert upstream[-1][2]["session"]["audio"]["input"]["transcription"]["model"] == (
        "gpt-4o-transcribe"
    )
    assert answer["session"]["audio"]["input"]["transcription"]["model"] == "tr"
    communicator, created = await open_with(answer["value"], "/v1/realtime?intent=transcription")
    assert created["session"]["type"] == "transcription"
    assert mock.handshakes[-1].query == {"intent": "transcription"}
    await close(communicator)


async def test_the_beta_transcription_session_is_sealed_too(upstream: list[Any]) -> None:
    status, answer = await create({"input_audio_transcription": {"model": "tr"}})
    assert status == 200, answer
    path, _, body = upstream[-1]
    assert path == "/v1/realtime/transcription_sessions"
    assert body["input_audio_transcription"]["model"] == "gpt-4o-transcribe"
    assert answer["client_secret"]["value"].startswith("sy-ek-")
    assert answer["input_audio_transcription"]["model"] == "tr"


async def test_a_translation_secret_opens_only_a_translation_session(
    upstream: list[Any], mock: MockRealtime
) -> None:
    status, answer = await create(
        {"session": {"model": "tl", "audio": {"output": {"language": "es"}}}}
    )
    assert status == 200, answer
    assert upstream[-1][0] == "/v1/realtime/translations/client_secrets"
    assert (
        RealtimeTranslationClientSecretCreateResponse.model_validate(answer).session.model == "tl"
    )
    communicator, created = await open_with(answer["value"], "/v1/realtime/translations?model=tl")
    assert created["session"]["type"] == "translation"
    assert mock.handshakes[-1].path == "/v1/realtime/translations"
    await close(communicator)
    communicator, refused = await open_with(answer["value"], "/v1/realtime?model=tl")
    assert refused["type"] == "error" and "translation session" in refused["error"]["message"]
    await close(communicator)


async def test_a_secret_opens_its_own_route_only_and_a_forged_one_nothing(
    upstream: list[Any],
) -> None:
    status, answer = await create({"session": {"type": "realtime", "model": "rt"}})
    assert status == 200
    communicator, refused = await open_with(answer["value"], "/v1/realtime?model=tr")
    assert refused["type"] == "error" and refused["error"]["type"] == "permission_error"
    await close(communicator)
    forged = answer["value"][:-4] + ("AAAA" if not answer["value"].endswith("AAAA") else "BBBB")
    communicator, refused = await open_with(forged, "/v1/realtime?model=rt")
    assert refused["error"]["code"] == "invalid_api_key", refused
    await close(communicator)
    assert realtime_secrets.grant_of(forged) is None
    assert realtime_secrets.grant_of("sy-ek-not-a-token") is None


async def test_a_secret_past_its_expiry_opens_nothing(
    upstream: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    status, answer = await create({"session": {"type": "realtime", "model": "rt"}})
    assert realtime_secrets.grant_of(answer["value"]) is not None
    monkeypatch.setattr(time, "time", lambda: 4102444801.0)
    assert realtime_secrets.grant_of(answer["value"]) is None


async def test_a_body_naming_no_route_is_a_400_naming_the_field(upstream: list[Any]) -> None:
    status, answer = await create({"session": {"type": "transcription"}})
    assert status == 400
    assert answer["error"]["param"] == "session.audio.input.transcription.model"
    status, answer = await create({"session": {"type": "realtime", "model": "nope"}})
    assert status == 404 and upstream == []


SDK_KEY = "sy-realtime-secrets-sdk-0123456789"


async def test_the_official_sdk_creates_both_kinds_of_secret(upstream: list[Any]) -> None:
    """``client.realtime.client_secrets.create`` and
    ``client.realtime.translations.client_secrets.create`` through the edge (the key
    from its header): typed answers, each secret the gateway's, granting that key."""
    snap = registry.current()
    key = KeyEntry(42, "sdk", SDK_KEY[:8], None, None, None, None, "total", None, False)
    snap.keys[hashlib.sha256(SDK_KEY.encode()).hexdigest()] = key
    app = endpoints.GatewayApp(django_app=None)  # type: ignore[arg-type]
    transport = httpx2.ASGITransport(app=app)  # type: ignore[arg-type]
    client = openai.AsyncOpenAI(
        base_url="http://gw/v1",
        api_key=SDK_KEY,
        http_client=httpx2.AsyncClient(transport=transport, base_url="http://gw"),
        max_retries=0,
    )
    made = await client.realtime.client_secrets.create(
        session={"type": "realtime", "model": "rt", "instructions": "be brief"}
    )
    assert made.value.startswith("sy-ek-") and made.session.model == "rt"  # type: ignore[union-attr]
    translated = await client.realtime.translations.client_secrets.create(
        session={"model": "tl", "audio": {"output": {"language": "de"}}}
    )
    assert translated.session.model == "tl"
    for value, kind in ((made.value, "realtime"), (translated.value, "translation")):
        grant = realtime_secrets.grant_of(value)
        assert grant is not None and (grant.key.id, grant.kind) == (42, kind)
    assert [path for path, _, _ in upstream] == [
        "/v1/realtime/client_secrets",
        "/v1/realtime/translations/client_secrets",
    ]


async def test_a_conversation_secrets_input_transcription_route_is_its_deployment(
    upstream: list[Any], mock: MockRealtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A route named as the input transcription model when the secret is made: the
    upstream gets its deployment's model, the answer the route's name, and the session
    the secret opens prices its transcriptions at that deployment's prices (#64)."""
    records: list[Any] = []
    monkeypatch.setattr(journal, "record", records.append)
    audio = {"input": {"transcription": {"model": "asr"}}}
    status, answer = await create({"session": {"type": "realtime", "model": "rt", "audio": audio}})
    assert status == 200, answer
    [(_, _, body)] = upstream
    assert body["session"]["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
    assert answer["session"]["audio"]["input"]["transcription"]["model"] == "asr"
    communicator, created = await open_with(answer["value"], "/v1/realtime?model=rt")
    assert created["session"]["audio"]["input"]["transcription"]["model"] == "asr"
    second = base64.b64encode(bytes(48_000)).decode()
    await communicator.send_to(text_data=json.dumps({"type": "input_audio_buffer.append",
                                                     "audio": second}))  # fmt: skip
    await communicator.send_to(text_data=json.dumps({"type": "input_audio_buffer.commit"}))
    event = json.loads(await communicator.receive_from(timeout=10))
    while event["type"] != "conversation.item.input_audio_transcription.completed":
        assert event["type"] != "error", event
        event = json.loads(await communicator.receive_from(timeout=10))
    await close(communicator)
    _, session = records
    usage = event["usage"]
    details = usage["input_token_details"]
    expected = details["audio_tokens"] * 3 + details["text_tokens"] + usage["output_tokens"] * 4
    assert session.cost_usd == Decimal(expected) / 10**6
    assert json.loads(session.inbound_request)["input_transcription"]["model"] == "asr"
