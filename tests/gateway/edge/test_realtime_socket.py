"""The realtime relay in process (``gateway.edge.realtime_socket`` against the mock
Realtime upstream): the key from a header or the browser's subprotocol (never echoed),
usage summed from every ``response.done`` and priced with audio at the audio prices,
model names rewritten both ways, an oversized client event refused without ending the
session, and a drain closing an idle session with 1012 after an error event (a session
generating a response once that response is done)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from gateway import journal
from gateway.access import registry
from gateway.base import lifecycle
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import realtime
from gateway.core.call import Caller
from gateway.edge import realtime_socket
from gateway.edge.realtime_socket import chosen_subprotocol, key_token
from gateway.routing import routing
from tests.gateway.entries import deployment, route, snapshot
from tests.integration.mock_realtime import OVERLOADED, USAGE, MockRealtime

SECRET = "sk-mock-realtime-upstream"


def test_the_key_comes_from_the_headers_else_the_subprotocol() -> None:
    protocols = ["realtime", "openai-insecure-api-key.sk-browser"]
    assert key_token({"authorization": "Bearer sk-a"}, protocols) == "sk-a"
    assert key_token({"api-key": "sk-b"}, []) == "sk-b"
    assert key_token({}, protocols) == "sk-browser"
    assert key_token({}, ["realtime"]) == ""
    assert chosen_subprotocol(protocols) == "realtime"  # never the key's
    assert chosen_subprotocol(["openai-insecure-api-key.sk-browser"]) is None


@pytest.fixture(scope="module")
def mock() -> Iterator[MockRealtime]:
    server = MockRealtime(secret=SECRET).start()
    yield server
    server.stop()


@pytest.fixture
def relay(mock: MockRealtime, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The route ``rt`` on the mock, a master-key caller; the journal's records."""
    provider = ProviderEntry(7, "mock-rt", "openai", mock.url + "/v1", SECRET, {}, "", None)
    installed = registry.current()
    registry.install(snapshot(route("rt", "gpt-realtime", provider=provider)))
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


async def open_session(protocols: list[str] | None = None) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        realtime_socket.app,
        "/v1/realtime?model=rt",
        headers=[] if protocols else [(b"authorization", b"Bearer sk-good")],
        subprotocols=protocols,
    )
    connected, subprotocol = await communicator.connect(timeout=10)
    assert connected
    if protocols:
        assert subprotocol == "realtime"
    return communicator


async def next_event(communicator: WebsocketCommunicator) -> dict[str, Any]:
    return json.loads(await communicator.receive_from(timeout=10))


async def test_a_session_is_relayed_and_journaled_once(relay: list[Any], mock) -> None:
    communicator = await open_session(["realtime", "openai-insecure-api-key.sk-good"])
    created = await next_event(communicator)
    assert created["type"] == "session.created" and created["session"]["model"] == "rt"
    update = {"type": "session.update", "session": {"type": "realtime", "model": "rt"}}
    await communicator.send_to(text_data=json.dumps(update))
    assert (await next_event(communicator))["session"]["model"] == "rt"
    assert mock.events[-1]["session"]["model"] == "gpt-realtime"
    for _ in range(2):
        await communicator.send_to(text_data=json.dumps({"type": "response.create"}))
        while (await next_event(communicator))["type"] != "response.done":
            pass
    await communicator.disconnect()
    await communicator.wait(5)
    [record] = relay
    assert record.endpoint == "realtime" and record.status == 200
    assert record.output_tokens == 2 * USAGE["output_tokens"]
    assert record.cache_read_tokens == 2 * 64
    assert record.finish_reason == "client closed 1000"
    assert "sk-good" not in json.dumps(mock.handshakes[-1].headers)


async def test_an_oversized_event_is_refused_and_the_session_goes_on(
    relay: list[Any], settings: Any
) -> None:
    settings.SWITCHYARD_MAX_BODY_BYTES = 1000
    communicator = await open_session()
    await next_event(communicator)
    await communicator.send_to(text_data=json.dumps({"type": "x", "pad": "p" * 2000}))
    refused = await next_event(communicator)
    assert refused["type"] == "error" and "exceeds the limit" in refused["error"]["message"]
    await communicator.send_to(text_data=json.dumps({"type": "response.create"}))
    assert (await next_event(communicator))["type"] == "response.created"
    await communicator.disconnect()


async def test_a_drain_closes_an_idle_session_with_1012(
    relay: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    communicator = await open_session()
    await next_event(communicator)
    monkeypatch.setattr(lifecycle, "_draining", True)
    goodbye = await next_event(communicator)
    assert goodbye["type"] == "error" and "reconnect" in goodbye["error"]["message"]
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1012, "reason": "server restarting"}
    await communicator.wait(5)
    [record] = relay
    assert record.finish_reason == "gateway closed 1012"


async def test_a_bad_key_gets_an_error_event_and_1008(relay: list[Any]) -> None:
    """As OpenAI's server answers a bad key: the socket is accepted, gets an ``error``
    event in the Realtime API's shape and is closed (1008, no retry)."""
    communicator = WebsocketCommunicator(
        realtime_socket.app, "/v1/realtime?model=rt", subprotocols=["realtime"]
    )
    connected, subprotocol = await communicator.connect(timeout=10)
    assert connected and subprotocol == "realtime"
    event = await next_event(communicator)
    assert event["type"] == "error" and event["event_id"].startswith("event_")
    assert event["error"]["code"] == "invalid_api_key"
    assert set(event["error"]) == {"type", "code", "message", "param", "event_id"}
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1008
    [record] = relay
    assert record.status == 401 and record.endpoint == "realtime"


async def test_a_drain_lets_the_response_in_progress_finish_first(
    relay: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    communicator = await open_session()
    await next_event(communicator)
    slow = {"type": "response.create", "response": {"metadata": {"delay": "0.3"}}}
    await communicator.send_to(text_data=json.dumps(slow))
    assert (await next_event(communicator))["type"] == "response.created"
    monkeypatch.setattr(lifecycle, "_draining", True)  # mid-response
    kinds = []
    while not kinds or kinds[-1] != "error":
        kinds.append((await next_event(communicator))["type"])
    assert kinds[-2] == "response.done" and kinds.count("response.output_text.delta") == 2
    closed = await communicator.receive_output(timeout=5)
    assert closed["type"] == "websocket.close" and closed["code"] == 1012
    await communicator.wait(5)
    [record] = relay
    assert record.output_tokens == USAGE["output_tokens"]  # the finished response counted


def test_only_events_of_interest_are_parsed_and_rewritten() -> None:
    from gateway.core.call import Call

    rt = route("rt", "gpt-realtime")
    session = realtime.Session(
        call=Call("realtime", "openai", b"", Caller(key=None)),
        route=rt,
        deployment=rt.deployments[0],
        upstream=None,  # type: ignore[arg-type]
    )
    created = '{"type":"session.created","session":{"model":"gpt-realtime","id":"s"}}'
    assert json.loads(session.observe_upstream(created))["session"]["model"] == "rt"
    # a transcript naming an event type is not that event
    delta = '{"type":"response.output_text.delta","delta":"\\"response.done\\""}'
    assert session.observe_upstream(delta) is delta and session.usage.responses == 0
    session.observe_upstream(json.dumps({"type": "response.created", "response": {}}))
    assert session.responding == 1
    done = {"type": "response.done", "response": {"status": "failed", "usage": USAGE,
            "status_details": {"error": {"message": "boom"}}}}  # fmt: skip
    session.observe_upstream(json.dumps(done).encode())
    assert session.responding == 0 and session.usage.responses == 1
    assert session.last_error == "boom"
    update = json.dumps({"type": "session.update", "session": {"model": "rt"}})
    assert json.loads(session.observe_client(update))["session"]["model"] == "gpt-realtime"
    audio = '{"type":"input_audio_buffer.append","audio":"AAAA"}'
    assert session.observe_client(audio) is audio


async def test_a_transcription_intent_is_passed_on_and_others_refused(
    relay: list[Any], mock: MockRealtime
) -> None:
    auth = [(b"authorization", b"Bearer sk-good")]
    path = "/v1/realtime?model=rt&intent=transcription"
    communicator = WebsocketCommunicator(realtime_socket.app, path, headers=auth)
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    await next_event(communicator)
    # no model upstream: OpenAI's guide says a URL with one opens a conversation session
    assert mock.handshakes[-1].query == {"intent": "transcription"}
    await communicator.disconnect()
    await communicator.wait(5)
    assert relay[-1].status == 200 and relay[-1].latency_ms > 0  # the session's duration
    path = "/v1/realtime?model=rt&intent=nonsense"
    communicator = WebsocketCommunicator(realtime_socket.app, path, headers=auth)
    connected, _ = await communicator.connect(timeout=10)
    refused = await next_event(communicator)
    assert refused["type"] == "error" and refused["error"]["param"] == "intent"
    assert (await communicator.receive_output(timeout=5))["code"] == 1008


async def session_on(model: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    """A session on route ``model`` and its ``session.created``."""
    communicator = WebsocketCommunicator(
        realtime_socket.app,
        f"/v1/realtime?model={model}",
        headers=[(b"authorization", b"Bearer sk-good")],
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    return communicator, await next_event(communicator)


async def close(communicator: WebsocketCommunicator) -> None:
    await communicator.disconnect()
    await communicator.wait(5)


@pytest.fixture
def fresh_health() -> Iterator[None]:
    routing.reset()
    yield
    routing.reset()


async def test_the_routes_strategy_picks_the_deployment(
    relay: list[Any], mock: MockRealtime, fresh_health: None
) -> None:
    """least_busy: a session in flight makes its deployment busy, so the next session
    goes to the other one, the lighter weight notwithstanding."""
    provider = ProviderEntry(7, "mock-rt", "openai", mock.url + "/v1", SECRET, {}, "", None)
    busy = route("rt-lb", "gpt-realtime", "gpt-realtime-mini", strategy="least_busy",
                 weights=[10, 1], provider=provider)  # fmt: skip
    registry.install(snapshot(busy))
    first, _ = await session_on("rt-lb")
    one = mock.handshakes[-1].query["model"]
    second, _ = await session_on("rt-lb")
    other = mock.handshakes[-1].query["model"]
    assert {one, other} == {"gpt-realtime", "gpt-realtime-mini"}
    await close(first)
    await close(second)


async def test_a_refused_connect_cools_its_deployment_down_and_fails_over(
    relay: list[Any], mock: MockRealtime, fresh_health: None, settings: Any
) -> None:
    """A deployment whose realtime socket is refused (503) counts a failed request as
    over HTTP: the session fails over to its sibling, the deployment cools down
    (after one failure here) and the next sessions do not try it; a route whose only
    deployment is refused falls back to its fallback route."""
    settings.SWITCHYARD_COOLDOWN_FAILURES = 1
    provider = ProviderEntry(7, "mock-rt", "openai", mock.url + "/v1", SECRET, {}, "", None)
    pair = route("rt-pair", OVERLOADED, "gpt-realtime", weights=[1000, 1], max_attempts=2,
                 provider=provider)  # fmt: skip
    lone = route("rt-lone", OVERLOADED, fallbacks=("rt-pair",), max_attempts=1,
                 provider=provider)  # fmt: skip
    registry.install(snapshot(pair, lone))
    before = len(mock.handshakes)
    for _ in range(5):
        communicator, created = await session_on("rt-pair")
        assert created["type"] == "session.created"
        await close(communicator)
    tried = [h.query["model"] for h in mock.handshakes[before:]]
    assert tried.count(OVERLOADED) == 1 and tried.count("gpt-realtime") == 5, tried
    first = relay[0]
    assert [a.status for a in first.attempts] == [503, 200]
    assert first.upstream_model == "gpt-realtime" and first.status == 200
    # a route whose one deployment is refused: its fallback route serves the session
    communicator, created = await session_on("rt-lone")
    assert created["type"] == "session.created" and created["session"]["model"] == "rt-lone"
    await close(communicator)
    assert relay[-1].route == "rt-lone" and relay[-1].upstream_model == "gpt-realtime"


@pytest.mark.parametrize(
    ("version", "url"),
    [
        ("", "ws://az.test/openai/v1/realtime?model=dep"),
        ("2024-10-21", "ws://az.test/openai/v1/realtime?model=dep"),
        ("v1", "ws://az.test/openai/v1/realtime?model=dep"),
        ("2025-04-01-preview",
         "ws://az.test/openai/realtime?api-version=2025-04-01-preview&deployment=dep"),
        # a transcription session names its deployment in the session, never the URL
        ("", "ws://az.test/openai/v1/realtime?intent=transcription"),
        ("2025-04-01-preview",
         "ws://az.test/openai/realtime?api-version=2025-04-01-preview&intent=transcription"),
    ],
)  # fmt: skip
def test_azure_uses_its_preview_endpoint_for_a_preview_version(version: str, url: str) -> None:
    from gateway.providers.openai_compatible import AzureOpenAIProvider

    provider = ProviderEntry(9, "az", "azure", "http://az.test", "sk-az", {}, version, None)
    query = {"intent": "transcription"} if "intent" in url else {}
    target, headers = AzureOpenAIProvider(provider).realtime_target(
        deployment("rt", "dep", provider=provider), query
    )
    assert target == url and headers == {"api-key": "sk-az"}


# --- guardrails on the session (gateway.features.guardrails.realtime) -------------------------------


def guarded(modes: tuple[str, ...], action: str = "BLOCK", word: str = "forbidden") -> None:
    """A ``default_on`` content filter on the installed snapshot."""
    from gateway.base.entries import GuardrailEntry

    entry = GuardrailEntry(
        id=91, name="words", kind="litellm_content_filter", modes=frozenset(modes),
        params={"blocked_words": [{"keyword": word, "action": action}]}, default_on=True,
    )  # fmt: skip
    snap = registry.current()
    snap.guardrails = {"words": entry}
    snap.default_guardrails = ("words",)


def user_text(text: str) -> str:
    item = {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]}
    return json.dumps({"type": "conversation.item.create", "item": item})


async def refused_with(communicator: WebsocketCommunicator, what: str) -> dict[str, Any]:
    event = await next_event(communicator)
    while event["type"] != "error":
        event = await next_event(communicator)
    assert "guardrail 'words'" in event["error"]["message"] and what in event["error"]["message"]
    closed = await communicator.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1008, "reason": "guardrail"}
    await communicator.wait(5)
    return event


async def test_a_pre_call_guardrail_blocks_a_clients_text_before_the_upstream(
    relay: list[Any], mock
) -> None:
    guarded(("pre_call",))
    communicator = await open_session()
    await next_event(communicator)
    await communicator.send_to(text_data=user_text("hello there"))  # the control: relayed
    assert (await next_event(communicator))["type"] == "conversation.item.created"
    assert mock.events[-1]["item"]["content"][0]["text"] == "hello there"
    await communicator.send_to(text_data=user_text("this is Forbidden"))
    await refused_with(communicator, "blocked the request")
    assert "Forbidden" not in json.dumps(mock.events)
    [record] = relay
    assert record.status == 400 and record.finish_reason == "guardrail"
    assert record.guardrails[0]["verdict"] == "blocked"


async def test_a_masking_guardrail_rewrites_instructions_and_audio_input_is_refused(
    relay: list[Any], mock
) -> None:
    guarded(("pre_call",), action="MASK", word="secret")
    communicator = await open_session()
    await next_event(communicator)
    update = {"type": "session.update", "session": {"instructions": "keep the secret"}}
    await communicator.send_to(text_data=json.dumps(update))
    await next_event(communicator)
    assert mock.events[-1]["session"]["instructions"] == "keep the [KEYWORD_REDACTED]"
    audio = {"type": "input_audio_buffer.append", "audio": "AAAA"}
    await communicator.send_to(text_data=json.dumps(audio))
    await refused_with(communicator, "cannot read audio input")
    assert mock.events[-1]["type"] == "session.update"  # the audio never went up


async def test_a_post_call_guardrail_checks_the_servers_text_before_the_client_sees_it(
    relay: list[Any], mock
) -> None:
    guarded(("post_call",), word="there")  # the mock answers "Hello there"
    communicator = await open_session()
    await next_event(communicator)
    await communicator.send_to(text_data=json.dumps({"type": "response.create"}))
    seen = []
    event = await next_event(communicator)
    while event["type"] != "error":
        seen.append(event)
        event = await next_event(communicator)
    assert "guardrail 'words' blocked the answer" in event["error"]["message"]
    assert [e["type"] for e in seen] == ["response.created"]  # no delta got out
    await communicator.wait(5)


async def test_a_masking_post_call_guardrail_rewrites_the_text_and_its_echoes(
    relay: list[Any], mock
) -> None:
    guarded(("post_call",), action="MASK", word="there")
    communicator = await open_session()
    await next_event(communicator)
    await communicator.send_to(text_data=json.dumps({"type": "response.create"}))
    events = [await next_event(communicator)]
    while events[-1]["type"] != "response.done":
        events.append(await next_event(communicator))
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == "Hello [KEYWORD_REDACTED]"
    assert "there" not in json.dumps(events)
    assert events[-1]["response"]["output"][0]["content"][0]["text"] == text
    await communicator.disconnect()
