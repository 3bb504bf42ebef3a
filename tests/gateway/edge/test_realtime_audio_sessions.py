"""Realtime transcription and translation sessions relayed in process
(``gateway.edge.realtime_socket`` against the mock upstream, which holds the documented
shapes: ``tests/fixtures/openai_realtime/audio_sessions.json``).

- ``/v1/realtime?model=<route>&intent=transcription`` opens the upstream's
  ``?intent=transcription`` with no model (OpenAI's guide: a URL with a model is a
  conversation session); the ``session.update`` naming the route as the transcription
  model gets the deployment's model, the echoes the route's; each transcription's usage
  (tokens, or seconds of audio) is journaled and priced, charged as it comes.
- ``/v1/realtime/translations?model=<route>`` opens the upstream's translation socket;
  the audio's seconds are measured from the client's appends (24 kHz PCM16) and priced
  at the catalog's price per second (gpt-realtime-translate: $0.034 a minute).
- Guardrails that cannot read such a session refuse it, never skip it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from gateway import journal
from gateway.access import registry
from gateway.base import lifecycle
from gateway.base.entries import MASTER, ProviderEntry, RouteEntry
from gateway.catalog import media
from gateway.core.call import Caller
from gateway.edge import realtime_socket
from tests.gateway.edge.test_realtime_socket import guarded
from tests.gateway.entries import deployment, route, snapshot
from tests.integration.mock_realtime import FIXTURES, MockRealtime

SECRET = "sk-mock-realtime-audio"
AUTH = [(b"authorization", b"Bearer sk-good")]
ONE_SECOND = base64.b64encode(bytes(48_000)).decode()  # 24 kHz PCM16: one second
TOKENS = FIXTURES["transcription"]["conversation.item.input_audio_transcription.completed"]
AZURE_PRICES = {
    "input_price": Decimal(2),
    "audio_input_price": Decimal(5),
    "output_price": Decimal(7),
}


@pytest.fixture(scope="module")
def mock() -> Iterator[MockRealtime]:
    server = MockRealtime(secret=SECRET).start()
    yield server
    server.stop()


def _route(name: str, model: str, provider: ProviderEntry, **prices: Any) -> RouteEntry:
    priced = deployment(name, model, provider=provider, **prices)
    return dataclasses.replace(route(name, model, provider=provider), deployments=(priced,))


@pytest.fixture
def relay(mock: MockRealtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """Routes ``tr`` (gpt-4o-transcribe, priced by tokens), ``live``
    (gpt-live-transcribe, by the second) and ``tl`` (gpt-realtime-translate) on the
    mock; a master-key caller; the journal's records."""
    provider = ProviderEntry(8, "mock-rt", "openai", mock.url + "/v1", SECRET, {}, "", None)
    azure = ProviderEntry(9, "mock-az", "azure", mock.url, SECRET, {}, "", None)
    preview = dataclasses.replace(azure, id=10, api_version="2025-04-01-preview")
    installed = registry.current()
    registry.install(
        snapshot(
            _route(
                "tr",
                "gpt-4o-transcribe",
                provider,
                input_price=Decimal("2.5"),
                output_price=Decimal(10),
                audio_input_price=Decimal(6),
            ),
            _route("live", "gpt-live-transcribe", provider),
            _route("tl", "gpt-realtime-translate", provider),
            # Azure: the deployments' names, never a model's
            _route("az-tr", "my-transcribe-deployment", azure, **AZURE_PRICES),
            _route("az-tr-p", "my-transcribe-deployment", preview, **AZURE_PRICES),
            _route("az-live", "my-live-transcribe", azure, params={"price_per_second": "0.001"}),
        )
    )
    records: list[Any] = []

    async def caller(headers: dict[str, str], token: str | None = None) -> Caller:
        return Caller(key=MASTER if token == "sk-good" else None)

    async def started() -> None:
        return None

    monkeypatch.setattr(realtime_socket, "resolve_fresh_caller", caller)
    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(journal, "record", records.append)
    yield records
    registry.install(installed)


async def connect(path: str) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(realtime_socket.app, path, headers=AUTH)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator


async def next_event(communicator: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=10))  # type: ignore[no-any-return]


async def until(communicator: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    events = [await next_event(communicator)]
    while events[-1]["type"] != kind:
        assert events[-1]["type"] != "error", events[-1]
        events.append(await next_event(communicator))
    return events


def transcription_update(model: str) -> str:
    update = FIXTURES["transcription"]["session.update"]
    session = {**update["session"], "audio": {"input": {
        **update["session"]["audio"]["input"], "transcription": {"model": model}}}}  # fmt: skip
    return json.dumps({**update, "session": session})


async def transcribe(communicator: WebsocketCommunicator, seconds: int) -> dict[str, Any]:
    """Append ``seconds`` of audio, commit, and return the ``completed`` event."""
    for _ in range(seconds):
        append = {"type": "input_audio_buffer.append", "audio": ONE_SECOND}
        await communicator.send_to(text_data=json.dumps(append))
    await communicator.send_to(text_data=json.dumps({"type": "input_audio_buffer.commit"}))
    events = await until(communicator, "conversation.item.input_audio_transcription.completed")
    return events[-1]


async def close(communicator: WebsocketCommunicator) -> None:
    await communicator.disconnect()
    await communicator.wait(5)


async def test_a_transcription_session_opens_without_a_model_and_is_priced_by_its_tokens(
    relay: list[Any], mock: MockRealtime
) -> None:
    communicator = await connect("/v1/realtime?model=tr&intent=transcription")
    created = await next_event(communicator)
    assert created["session"]["type"] == "transcription"
    assert mock.handshakes[-1].query == {"intent": "transcription"}  # no model: the guide's
    await communicator.send_to(text_data=transcription_update("tr"))
    updated = await next_event(communicator)
    assert updated["type"] == "session.updated"
    assert updated["session"]["audio"]["input"]["transcription"]["model"] == "tr"
    assert mock.events[-1]["session"]["audio"]["input"]["transcription"]["model"] == (
        "gpt-4o-transcribe"
    )
    for _ in range(2):
        done = await transcribe(communicator, 1)
        assert done["transcript"] == TOKENS["transcript"]
    await close(communicator)
    [record] = relay
    assert record.endpoint == "realtime" and record.status == 200
    usage = TOKENS["usage"]
    assert record.input_tokens == 2 * usage["input_tokens"]
    assert record.output_tokens == 2 * usage["output_tokens"]
    audio, text = (
        usage["input_token_details"]["audio_tokens"],
        usage["input_token_details"]["text_tokens"],
    )
    expected = 2 * (audio * 6 + text * Decimal("2.5") + usage["output_tokens"] * 10) / 10**6
    assert record.cost_usd == expected
    assert json.loads(record.inbound_request) == {"session": "transcription", "transcriptions": 2}


async def test_a_transcription_priced_by_the_second_is_journaled_with_its_audio_seconds(
    relay: list[Any],
) -> None:
    communicator = await connect("/v1/realtime?model=live&intent=transcription")
    await next_event(communicator)
    await communicator.send_to(text_data=transcription_update("live"))
    await next_event(communicator)
    done = await transcribe(communicator, 3)
    assert done["usage"] == {"type": "duration", "seconds": 3.0}
    await close(communicator)
    [record] = relay
    assert json.loads(record.inbound_request) == {
        "session": "transcription",
        "transcriptions": 1,
        "audio_seconds": 3.0,
        "audio_seconds_from": "upstream",
        "priced_per_second": True,
    }
    each = media.session_per_second("gpt-live-transcribe")
    assert each is not None and record.cost_usd == each * 3
    assert record.cost_usd == Decimal("0.017") / 60 * 3


async def test_a_conversation_url_refuses_a_transcription_update_as_documented(
    mock: MockRealtime,
) -> None:
    """The control for the URL the gateway opens: with a model it is a conversation."""
    from websockets.asyncio.client import connect as ws_connect

    url = mock.url.replace("http", "ws") + "/v1/realtime?model=gpt-realtime&intent=transcription"
    headers = {"Authorization": f"Bearer {SECRET}"}
    async with ws_connect(url, additional_headers=headers) as ws:
        assert json.loads(await ws.recv())["session"]["type"] == "realtime"
        await ws.send(transcription_update("gpt-4o-transcribe"))
        refused = json.loads(await ws.recv())
    assert refused["type"] == "error" and refused["error"]["param"] == "session.type"


async def test_a_translation_session_is_relayed_and_priced_by_its_seconds_of_audio(
    relay: list[Any], mock: MockRealtime
) -> None:
    communicator = await connect("/v1/realtime/translations?model=tl")
    created = await next_event(communicator)
    assert created["session"]["type"] == "translation" and created["session"]["model"] == "tl"
    handshake = mock.handshakes[-1]
    assert handshake.path == "/v1/realtime/translations"
    assert handshake.query == {"model": "gpt-realtime-translate"}
    update = FIXTURES["translation"]["session.update"]
    await communicator.send_to(text_data=json.dumps(update))
    assert (await next_event(communicator))["session"]["audio"]["output"]["language"] == "fr"
    for second in range(1, 3):
        append = {"type": "session.input_audio_buffer.append", "audio": ONE_SECOND}
        await communicator.send_to(text_data=json.dumps(append))
        events = await until(communicator, "session.output_audio.delta")
        assert [e["type"] for e in events] == [
            "session.input_transcript.delta",
            "session.output_transcript.delta",
            "session.output_audio.delta",
        ]
        assert events[-1]["elapsed_ms"] == second * 1000
    await communicator.send_to(text_data=json.dumps({"type": "session.close"}))
    assert (await next_event(communicator))["type"] == "session.closed"
    assert (await communicator.receive_output(timeout=5))["code"] == 1000
    await communicator.wait(5)
    [record] = relay
    assert record.status == 200 and record.finish_reason == "upstream closed 1000"
    assert json.loads(record.inbound_request) == {
        "session": "translation",
        "transcriptions": 0,
        "audio_seconds": 2.0,
        "audio_seconds_from": "measured",
        "priced_per_second": True,
    }
    assert record.cost_usd == Decimal("0.034") / 60 * 2  # developers.openai.com, per minute


async def test_an_intent_on_a_translation_socket_is_refused(relay: list[Any]) -> None:
    communicator = await connect("/v1/realtime/translations?model=tl&intent=transcription")
    refused = await next_event(communicator)
    assert refused["type"] == "error" and refused["error"]["param"] == "intent"
    assert (await communicator.receive_output(timeout=5))["code"] == 1008


async def test_a_post_call_guardrail_checks_a_transcript_before_the_client_sees_it(
    relay: list[Any],
) -> None:
    guarded(("post_call",), word="how")  # the transcript: "Hello, how are you?"
    communicator = await connect("/v1/realtime?model=tr&intent=transcription")
    await next_event(communicator)
    await communicator.send_to(text_data=transcription_update("tr"))
    await next_event(communicator)
    append = {"type": "input_audio_buffer.append", "audio": ONE_SECOND}
    await communicator.send_to(text_data=json.dumps(append))
    await communicator.send_to(text_data=json.dumps({"type": "input_audio_buffer.commit"}))
    seen = [await next_event(communicator)]
    while seen[-1]["type"] != "error":
        seen.append(await next_event(communicator))
    assert "guardrail 'words' blocked the answer" in seen[-1]["error"]["message"]
    assert [e["type"] for e in seen[:-1]] == ["input_audio_buffer.committed"]  # no text out
    await communicator.wait(5)
    [record] = relay
    assert record.finish_reason == "guardrail"


@pytest.mark.parametrize("mode", ["pre_call", "post_call"])
async def test_guardrails_refuse_a_translation_session_they_cannot_read(
    relay: list[Any], mock: MockRealtime, mode: str
) -> None:
    guarded((mode,))
    communicator = await connect("/v1/realtime/translations?model=tl")
    await next_event(communicator)
    before = len(mock.events)
    append = {"type": "session.input_audio_buffer.append", "audio": ONE_SECOND}
    await communicator.send_to(text_data=json.dumps(append))
    refused = await next_event(communicator)
    assert refused["type"] == "error", refused
    assert "guardrail 'words'" in refused["error"]["message"]
    assert "translation session" in refused["error"]["message"]
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1008, "reason": "guardrail"}
    await communicator.wait(5)
    relayed = [e["type"] for e in mock.events[before:]]
    # pre_call: the audio never went up; post_call: it did, its translation never came back
    assert relayed == ([] if mode == "pre_call" else ["session.input_audio_buffer.append"])
    [record] = relay
    assert record.finish_reason == "guardrail"


@pytest.mark.parametrize(
    ("model", "path", "query"),
    [
        ("az-tr", "/openai/v1/realtime", {"intent": "transcription"}),
        ("az-tr-p", "/openai/realtime",
         {"api-version": "2025-04-01-preview", "intent": "transcription"}),
    ],
)  # fmt: skip
async def test_an_azure_transcription_names_its_deployment_in_the_session_not_the_url(
    relay: list[Any], mock: MockRealtime, model: str, path: str, query: dict[str, str]
) -> None:
    """Azure refuses a transcription socket that names a deployment (400
    ``OperationNotSupported``: before #64 the gateway sent ``?model=<deployment>`` and
    the session never opened); its Realtime reference says the session's transcription
    model is the transcription deployment's name. GA and preview endpoints alike."""
    communicator = await connect(f"/v1/realtime?model={model}&intent=transcription")
    created = await next_event(communicator)
    assert created["type"] == "session.created", created
    assert (mock.handshakes[-1].path, mock.handshakes[-1].query) == (path, query)
    await communicator.send_to(text_data=transcription_update(model))
    updated = await next_event(communicator)
    assert updated["session"]["audio"]["input"]["transcription"]["model"] == model
    sent = mock.events[-1]["session"]["audio"]["input"]["transcription"]["model"]
    assert sent == "my-transcribe-deployment"
    await transcribe(communicator, 1)
    await close(communicator)
    [record] = relay
    usage = TOKENS["usage"]
    audio, text = (
        usage["input_token_details"]["audio_tokens"],
        usage["input_token_details"]["text_tokens"],
    )
    assert record.status == 200
    assert record.cost_usd == (audio * 5 + text * 2 + usage["output_tokens"] * 7) / Decimal(10**6)


async def test_an_azure_deployment_priced_by_the_second_takes_its_own_price(
    relay: list[Any],
) -> None:
    """A deployment's name says nothing of its model: its ``price_per_second``."""
    communicator = await connect("/v1/realtime?model=az-live&intent=transcription")
    await next_event(communicator)
    await communicator.send_to(text_data=transcription_update("az-live"))
    await next_event(communicator)
    done = await transcribe(communicator, 2)
    assert done["usage"] == {"type": "duration", "seconds": 2.0}
    await close(communicator)
    [record] = relay
    assert record.cost_usd == Decimal("0.002")


async def test_azure_refuses_a_transcription_socket_that_names_a_deployment(
    mock: MockRealtime,
) -> None:
    """The control for the URL the gateway opens on Azure."""
    from websockets.asyncio.client import connect as ws_connect
    from websockets.exceptions import InvalidStatus

    url = mock.url.replace("http", "ws") + "/openai/v1/realtime?model=my-transcribe-deployment"
    for query in ("", "&intent=transcription"):
        with pytest.raises(InvalidStatus) as refused:
            async with ws_connect(url + query, additional_headers={"api-key": SECRET}):
                pass
        assert refused.value.response.status_code == 400


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
async def test_a_pre_call_guardrail_reads_a_transcription_sessions_prompt(
    relay: list[Any], mock: MockRealtime, beta: bool
) -> None:
    """A transcription session's one text is the prompt its model reads (GA
    ``audio.input.transcription.prompt``, the beta ``transcription_session.update``'s
    ``input_audio_transcription.prompt``): checked before it goes up (#64)."""
    guarded(("pre_call",))
    communicator = await connect("/v1/realtime?model=tr&intent=transcription")
    await next_event(communicator)
    before = len(mock.events)
    if beta:
        holder = {"model": "tr", "prompt": "a forbidden topic"}
        update = {"type": "transcription_session.update",
                  "session": {"input_audio_transcription": holder}}  # fmt: skip
    else:
        update = json.loads(transcription_update("tr"))
        update["session"]["audio"]["input"]["transcription"]["prompt"] = "a forbidden topic"
    await communicator.send_to(text_data=json.dumps(update))
    refused = await next_event(communicator)
    assert refused["type"] == "error" and "guardrail 'words'" in refused["error"]["message"]
    assert (await communicator.receive_output(timeout=5))["code"] == 1008
    await communicator.wait(5)
    assert len(mock.events) == before
    [record] = relay
    assert record.finish_reason == "guardrail"
