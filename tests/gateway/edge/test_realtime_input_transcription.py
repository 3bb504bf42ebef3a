"""A conversation session's input audio transcription, relayed in process against the
mock upstream (``tests/integration/mock_realtime.py``).

OpenAI bills a conversation's input transcription (GA ``audio.input.transcription``, the
beta's ``input_audio_transcription``) at the transcription model's prices, apart from
the responses: each ``conversation.item.input_audio_transcription.completed`` carries its
``usage`` (tokens, or seconds of audio). The gateway counts each as it arrives, prices it
at that model's prices (a route the client named: its deployment's; else the catalog's),
charges it to the session's budget and journals it on the session's row.

On Azure OpenAI the transcription ``model`` names a deployment of the resource (Azure's
Realtime reference, "Azure deviation"): a route named there becomes its deployment on
the session's own upstream, and a route with none there is refused before it goes up.
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
from gateway.base.entries import MASTER, KeyEntry, ProviderEntry, RouteEntry
from gateway.base.errors import RateLimited
from gateway.core import realtime_secrets
from gateway.core.call import Caller
from gateway.edge import realtime_socket
from gateway.limits import limits
from tests.gateway.edge.test_realtime_socket import guarded
from tests.gateway.entries import deployment, route, snapshot
from tests.integration.mock_realtime import FIXTURES, MockRealtime

SECRET = "sk-mock-realtime-heard"
ONE_SECOND = base64.b64encode(bytes(48_000)).decode()  # 24 kHz PCM16: one second
TOKENS = FIXTURES["transcription"]["conversation.item.input_audio_transcription.completed"]
USAGE = TOKENS["usage"]  # 28 audio + 10 text tokens in, 10 out
# gpt-4o-transcribe at the catalog's prices ($6 in, audio or text; $10 out per 1M)
CATALOG_4O = Decimal(USAGE["input_tokens"] * 6 + USAGE["output_tokens"] * 10) / 10**6
NARROW = dataclasses.replace(MASTER, id=77, name="narrow", prefix="sk-narrow",
                             routes=frozenset({"rt", "az"}))  # fmt: skip


@pytest.fixture(scope="module")
def mock() -> Iterator[MockRealtime]:
    server = MockRealtime(secret=SECRET).start()
    yield server
    server.stop()


def _priced(name: str, model: str, provider: ProviderEntry, **prices: Any) -> RouteEntry:
    one = deployment(name, model, provider=provider, **prices)
    return dataclasses.replace(route(name, model, provider=provider), deployments=(one,))


@pytest.fixture
def relay(mock: MockRealtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Any]]:
    """On the mock: ``rt`` (gpt-realtime on OpenAI), ``asr`` (gpt-4o-transcribe there,
    at its own prices), ``az`` (Azure's ``my-rt-deployment``), ``az-asr`` (Azure's
    ``my-transcribe-deployment``, at its own prices) and ``elsewhere`` (a transcription
    model on another upstream). ``sk-good`` is the master key, ``sk-narrow`` a key
    limited to ``rt`` and ``az``."""
    openai = ProviderEntry(8, "mock-rt", "openai", mock.url + "/v1", SECRET, {}, "", None)
    azure = ProviderEntry(9, "mock-az", "azure", mock.url, SECRET, {}, "", None)
    other = ProviderEntry(10, "other", "openai", "http://127.0.0.1:9/v1", "x", {}, "", None)
    installed = registry.current()
    registry.install(
        snapshot(
            _priced("rt", "gpt-realtime", openai),
            _priced(
                "asr",
                "gpt-4o-transcribe",
                openai,
                input_price=Decimal(1),
                audio_input_price=Decimal(3),
                output_price=Decimal(4),
            ),  # fmt: skip
            _priced("az", "my-rt-deployment", azure),
            _priced(
                "az-asr",
                "my-transcribe-deployment",
                azure,
                input_price=Decimal(2),
                audio_input_price=Decimal(5),
                output_price=Decimal(7),
            ),  # fmt: skip
            _priced("elsewhere", "gpt-4o-transcribe", other),
        )
    )
    records: list[Any] = []

    async def caller(headers: dict[str, str], token: str | None = None) -> Caller:
        keys: dict[str | None, KeyEntry] = {"sk-good": MASTER, "sk-narrow": NARROW}
        return Caller(key=keys.get(token))

    async def started() -> None:
        return None

    monkeypatch.setattr(realtime_socket, "resolve_fresh_caller", caller)
    monkeypatch.setattr(lifecycle, "ensure_started", started)
    monkeypatch.setattr(journal, "record", records.append)
    yield records
    registry.install(installed)


async def connect(model: str, key: str = "sk-good") -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {key}".encode())]
    path = f"/v1/realtime?model={model}"
    communicator = WebsocketCommunicator(realtime_socket.app, path, headers=headers)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    assert (await next_event(communicator))["type"] == "session.created"
    return communicator


async def next_event(communicator: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=10))  # type: ignore[no-any-return]


async def until(communicator: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    events = [await next_event(communicator)]
    while events[-1]["type"] not in (kind, "error"):
        events.append(await next_event(communicator))
    return events


async def configure(communicator: WebsocketCommunicator, model: str, beta: bool = False) -> Any:
    """Turn on input transcription with ``model`` (GA's place, or the beta's); the
    ``session.updated`` (or ``error``) event that answers."""
    if beta:
        session: dict[str, Any] = {"input_audio_transcription": {"model": model}}
    else:
        session = {"type": "realtime", "audio": {"input": {"transcription": {"model": model}}}}
    await communicator.send_to(text_data=json.dumps({"type": "session.update", "session": session}))
    return (await until(communicator, "session.updated"))[-1]


async def speak(communicator: WebsocketCommunicator, seconds: int) -> dict[str, Any]:
    """Append ``seconds`` of audio and commit: the transcription's ``completed`` event."""
    for _ in range(seconds):
        append = {"type": "input_audio_buffer.append", "audio": ONE_SECOND}
        await communicator.send_to(text_data=json.dumps(append))
    await communicator.send_to(text_data=json.dumps({"type": "input_audio_buffer.commit"}))
    done = (await until(communicator, "conversation.item.input_audio_transcription.completed"))[-1]
    assert done["type"] != "error", done
    return done


async def close(communicator: WebsocketCommunicator) -> None:
    await communicator.disconnect()
    await communicator.wait(5)


async def test_a_conversations_input_transcription_is_journaled_at_the_models_prices(
    relay: list[Any],
) -> None:
    """Fails before #64: the transcription's tokens and cost were not counted at all."""
    communicator = await connect("rt")
    updated = await configure(communicator, "gpt-4o-transcribe")
    assert updated["session"]["audio"]["input"]["transcription"]["model"] == "gpt-4o-transcribe"
    for _ in range(2):
        assert (await speak(communicator, 1))["usage"] == USAGE
    await close(communicator)
    [record] = relay
    assert record.status == 200
    assert record.input_tokens == 2 * USAGE["input_tokens"]
    assert record.output_tokens == 2 * USAGE["output_tokens"]
    assert record.cost_usd == 2 * CATALOG_4O
    assert json.loads(record.inbound_request) == {
        "session": "realtime",
        "responses": 0,
        "input_transcription": {
            "model": "gpt-4o-transcribe",
            "transcriptions": 2,
            "input_tokens": 2 * USAGE["input_tokens"],
            "output_tokens": 2 * USAGE["output_tokens"],
            "cost_usd": str(2 * CATALOG_4O),
        },
    }


@pytest.mark.parametrize(
    ("model", "per_minute"),
    [("whisper-1", Decimal("0.006")), ("gpt-realtime-whisper", Decimal("0.017"))],
)
async def test_a_transcription_billed_by_the_second_is_priced_per_second(
    relay: list[Any], model: str, per_minute: Decimal
) -> None:
    """The beta's ``input_audio_transcription`` too; whisper-1 at $0.006 a minute,
    gpt-realtime-whisper at $0.017 (the catalog's prices per second)."""
    communicator = await connect("rt")
    await configure(communicator, model, beta=True)
    done = await speak(communicator, 3)
    assert done["usage"] == {"type": "duration", "seconds": 3.0}
    await close(communicator)
    [record] = relay
    shown = json.loads(record.inbound_request)["input_transcription"]
    assert shown["audio_seconds"] == 3.0 and shown["model"] == model
    assert round(record.cost_usd, 8) == round(per_minute / 60 * 3, 8)


async def test_a_route_named_as_the_transcription_model_gets_its_deployment_and_prices(
    relay: list[Any], mock: MockRealtime
) -> None:
    communicator = await connect("rt")
    updated = await configure(communicator, "asr")
    sent = mock.events[-1]["session"]["audio"]["input"]["transcription"]
    assert sent["model"] == "gpt-4o-transcribe"  # the upstream got the deployment's model
    assert updated["session"]["audio"]["input"]["transcription"]["model"] == "asr"
    await speak(communicator, 1)
    await close(communicator)
    [record] = relay
    audio, text = (
        USAGE["input_token_details"]["audio_tokens"],
        USAGE["input_token_details"]["text_tokens"],
    )
    assert record.cost_usd == Decimal(audio * 3 + text * 1 + USAGE["output_tokens"] * 4) / 10**6
    assert json.loads(record.inbound_request)["input_transcription"]["model"] == "asr"


async def test_a_route_the_session_cannot_reach_or_the_key_may_not_use_is_refused(
    relay: list[Any], mock: MockRealtime
) -> None:
    """An ``error`` event naming the field; the update never goes up; the session goes on."""
    communicator = await connect("rt", key="sk-narrow")
    before = len(mock.events)
    for model, kind in (("elsewhere", "permission_error"), ("asr", "permission_error")):
        refused = await configure(communicator, model)
        assert refused["type"] == "error" and refused["error"]["type"] == kind, refused
        assert refused["error"]["param"] == realtime_secrets.TRANSCRIPTION_PARAM
    assert len(mock.events) == before  # nothing went up
    await close(communicator)
    master = await connect("rt")
    refused = await configure(master, "elsewhere")  # allowed, but not on this upstream
    assert refused["type"] == "error" and "none of its deployments" in refused["error"]["message"]
    assert (await configure(master, "gpt-4o-transcribe"))["type"] == "session.updated"
    await close(master)


async def test_on_azure_a_route_becomes_its_deployment_name_as_azure_requires(
    relay: list[Any], mock: MockRealtime
) -> None:
    """Azure's transcription ``model`` is a deployment of the resource: a route gets
    its Azure deployment's name; a model's name the resource has no deployment of is
    the upstream's ``error`` (passed on)."""
    communicator = await connect("az")
    assert mock.handshakes[-1].path == "/openai/v1/realtime"
    refused = await configure(communicator, "gpt-4o-transcribe")
    assert refused["type"] == "error" and "unknown deployment" in refused["error"]["message"]
    updated = await configure(communicator, "az-asr")
    sent = mock.events[-1]["session"]["audio"]["input"]["transcription"]
    assert sent["model"] == "my-transcribe-deployment"
    assert updated["session"]["audio"]["input"]["transcription"]["model"] == "az-asr"
    await speak(communicator, 1)
    await close(communicator)
    [record] = relay
    audio, text = (
        USAGE["input_token_details"]["audio_tokens"],
        USAGE["input_token_details"]["text_tokens"],
    )
    assert record.cost_usd == Decimal(audio * 5 + text * 2 + USAGE["output_tokens"] * 7) / 10**6


async def test_each_transcription_is_charged_to_the_budget_as_it_arrives(
    relay: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No response ever comes: the second transcription spends the budget and the
    session ends (1008, ``budget_exceeded``)."""
    charges: list[Decimal] = []

    class Held:
        async def charge(self, delta: Decimal) -> RateLimited | None:
            charges.append(delta)
            if sum(charges) < 2 * CATALOG_4O:
                return None
            return RateLimited("the key's budget is exhausted", code="budget_exceeded")

        def settlement(self, tokens: int, cost: Decimal) -> None:
            return None

    async def admit(*args: Any, **kwargs: Any) -> Held:
        return Held()

    monkeypatch.setattr(limits, "admit", admit)
    communicator = await connect("rt")
    await configure(communicator, "gpt-4o-transcribe")
    await speak(communicator, 1)
    assert charges == [CATALOG_4O]
    await speak(communicator, 1)
    error = await next_event(communicator)
    assert error["type"] == "error" and error["error"]["code"] == "budget_exceeded"
    assert (await communicator.receive_output(timeout=5))["code"] == 1008
    await communicator.wait(5)
    [record] = relay
    assert record.finish_reason == "budget exhausted" and record.cost_usd == 2 * CATALOG_4O


@pytest.mark.parametrize(
    "session",
    [
        {"instructions": "talk about forbidden things"},
        {"type": "realtime", "audio": {"input": {"transcription": {
            "model": "gpt-4o-transcribe", "prompt": "expect forbidden words"}}}},
        {"input_audio_transcription": {"model": "whisper-1", "prompt": "forbidden, banned"}},
        {"prompt": {"id": "pmpt_1", "variables": {"city": "forbidden"}}},
        {"prompt": {"id": "pmpt_1", "variables": {
            "city": {"type": "input_text", "text": "a forbidden city"}}}},
    ],
    ids=["instructions", "transcription-prompt", "beta-prompt", "variables", "variable-part"],
)  # fmt: skip
async def test_a_pre_call_guardrail_reads_a_session_updates_prompts(
    relay: list[Any], mock: MockRealtime, session: dict[str, Any]
) -> None:
    """The texts a ``session.update`` sends a model besides its instructions (the
    input transcription's prompt, a reusable prompt's variables) are checked before
    they go up, as the instructions are (#64: they went up unchecked)."""
    guarded(("pre_call",))
    communicator = await connect("rt")
    before = len(mock.events)
    await communicator.send_to(text_data=json.dumps({"type": "session.update", "session": session}))
    refused = await next_event(communicator)
    assert refused["type"] == "error" and "guardrail 'words'" in refused["error"]["message"]
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1008, "reason": "guardrail"}
    await communicator.wait(5)
    assert len(mock.events) == before  # it never went up
    [record] = relay
    assert record.finish_reason == "guardrail"
