"""The Gemini API provider against the mock Gemini API on 127.0.0.1: where it posts,
how it authenticates, control params kept out of the body, streams, errors, counting
tokens, listing models, and the thought-signature round trip the mock enforces."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields, replace

import httpx
import pytest

from gateway.base import errors, http
from gateway.base.entries import ProviderEntry
from gateway.base.streaming import fold_events
from gateway.base.types import ChatRequest, Message, Text, Tool, ToolResult
from gateway.codecs.gemini import ids
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.gemini import GeminiProvider

from ...integration.mock_gemini import GReply, MockGemini
from ..entries import deployment

KEY = "AIza-mock-gemini-key-0123456789"  # the one MockGemini takes (conftest.py)


@pytest.fixture
def mock(gemini_upstream: MockGemini) -> Iterator[MockGemini]:
    gemini_upstream.reset()
    yield gemini_upstream


def provider(mock: MockGemini, secret: str = KEY, base: str | None = None, **kw) -> GeminiProvider:
    entry = ProviderEntry(
        3, "gem", "gemini", base or mock.url, secret, {}, kw.get("version", ""), None
    )
    return GeminiProvider(entry)


def ask(text: str = "Say hi", **fields) -> ChatRequest:
    return ChatRequest(model="public", messages=[Message("user", [Text(text)])], **fields)


DEP = deployment("public", "gemini-2.5-flash", params={"temperature": 0.2, "vertex_project": "x"})


def test_kind_is_registered() -> None:
    entry = ProviderEntry(1, "g", "gemini", "", KEY, {}, "", None)
    assert isinstance(adapter_for(entry), GeminiProvider)


async def test_complete_posts_to_generate_content_with_the_key_in_a_header(
    mock: MockGemini,
) -> None:
    mock.queue(GReply(text="Hello there", prompt_tokens=30, cached_tokens=10, output_tokens=3))
    exchange = Exchange()
    response = await provider(mock).complete(ask(), DEP, exchange)
    assert response.text() == "Hello there" and response.finish_reason == "stop"
    assert response.usage.input_tokens == 20 and response.usage.cache_read_tokens == 10
    seen = mock.last
    assert seen.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert seen.headers["x-goog-api-key"] == KEY and "key" not in seen.query
    assert seen.body["generationConfig"] == {"temperature": 0.2}  # vertex_project stayed home
    assert exchange.status == 200 and exchange.usage.output_tokens == 3
    assert KEY.encode() not in exchange.request_body and KEY not in exchange.url


async def test_stream_uses_sse_and_folds_to_the_same_answer(mock: MockGemini) -> None:
    reply = GReply(text="Streaming works fine.", thinking="Let me think.", thought_tokens=5)
    mock.queue(reply, reply)
    p = provider(mock)
    whole = await p.complete(ask(reasoning=None), DEP, Exchange())
    exchange = Exchange()
    events = [e async for e in p.stream(ask(stream=True), DEP, exchange)]
    seen = mock.last
    assert seen.path.endswith(":streamGenerateContent") and seen.query["alt"] == ["sse"]
    folded = fold_events(events)
    assert folded.parts == whole.parts and folded.finish_reason == whole.finish_reason
    assert folded.usage == whole.usage and exchange.usage.reasoning_tokens == 5


@pytest.mark.parametrize(
    ("base", "version", "path"),
    [
        ("{url}", "", "/v1beta/models/gemini-2.5-flash:generateContent"),
        ("{url}/", "v1", "/v1/models/gemini-2.5-flash:generateContent"),
        ("{url}/v1beta", "", "/v1beta/models/gemini-2.5-flash:generateContent"),
    ],
)
async def test_base_url_and_api_version(
    mock: MockGemini, base: str, version: str, path: str
) -> None:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"candidates": [], "responseId": "r"})

    http.use_transport(httpx.MockTransport(record))
    p = provider(mock, base=base.format(url="http://g.test"), version=version)
    await p.complete(ask(), deployment("public", "models/gemini-2.5-flash"), Exchange())
    assert seen[0].url.path == path


async def test_a_refused_key_is_a_401_that_routing_will_not_retry(mock: MockGemini) -> None:
    with pytest.raises(errors.UpstreamError) as caught:
        await provider(mock, secret="AIza-wrong").complete(ask(), DEP, Exchange())
    assert caught.value.status == 401 and not caught.value.retryable
    assert "AIza-wrong" not in caught.value.message


async def test_missing_key_is_a_configuration_error_before_any_connection(
    mock: MockGemini, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_KEY_UNSET", raising=False)
    with pytest.raises(errors.ConfigurationError, match="GEMINI_KEY_UNSET"):
        await provider(mock, secret="os.environ/GEMINI_KEY_UNSET").complete(ask(), DEP, Exchange())
    with pytest.raises(errors.ConfigurationError, match="no Gemini API key"):
        await provider(mock, secret="").complete(ask(), DEP, Exchange())
    assert mock.seen == []
    monkeypatch.setenv("GEMINI_KEY_SET", KEY)
    response = await provider(mock, secret="os.environ/GEMINI_KEY_SET").complete(
        ask(), DEP, Exchange()
    )
    assert response.text() == "Hi from Gemini."


@pytest.mark.parametrize(
    ("status", "name", "retryable"),
    [
        (429, "RESOURCE_EXHAUSTED", True),
        (503, "UNAVAILABLE", True),
        (400, "INVALID_ARGUMENT", False),
    ],
)
async def test_upstream_errors_keep_status_and_retry_rules(
    mock: MockGemini, status: int, name: str, retryable: bool
) -> None:
    error = {"code": status, "message": f"mock {name}", "status": name}
    mock.queue(GReply(status=status, error=error), GReply(status=status, error=error))
    p = provider(mock)
    with pytest.raises(errors.UpstreamError) as caught:
        await p.complete(ask(), DEP, Exchange())
    assert caught.value.status == status and caught.value.retryable is retryable
    with pytest.raises(errors.UpstreamError) as streamed:
        [e async for e in p.stream(ask(stream=True), DEP, Exchange())]
    assert streamed.value.status == status


async def test_error_mid_stream_is_an_error_event(mock: MockGemini) -> None:
    mock.queue(GReply(text="a long answer cut short", error_after=2))
    events = [e async for e in provider(mock).stream(ask(stream=True), DEP, Exchange())]
    folded = fold_events(events)
    assert folded.text() == "a long a"
    error = events[-1].error  # type: ignore[union-attr]
    assert error.status == 503 and error.kind == "overloaded_error"


async def test_count_tokens_and_list_models(mock: MockGemini) -> None:
    p = provider(mock)
    count = await p.count_tokens(ask("count me please"), DEP, {})
    assert isinstance(count, int) and count > 0
    seen = mock.seen[-1]
    assert seen.path == "/v1beta/models/gemini-2.5-flash:countTokens"
    assert seen.body["generateContentRequest"]["model"] == "models/gemini-2.5-flash"
    assert await p.list_models() == ["gemini-2.5-flash", "gemini-2.5-pro"]


async def test_thought_signature_round_trips_through_the_tool_call_id(mock: MockGemini) -> None:
    weather = Tool("get_weather", parameters={"type": "object", "properties": {}})
    mock.queue(
        GReply(calls=[("get_weather", {"city": "Paris"}), ("get_weather", {"city": "Rome"})])
    )
    p = provider(mock)
    first = await p.complete(ask("Weather?", tools=[weather]), DEP, Exchange())
    assert first.finish_reason == "tool_calls"
    calls = first.tool_calls()
    assert ids.signature_of(calls[0].id) and ids.signature_of(calls[1].id) is None
    results = [ToolResult(c.id, [Text("sunny")]) for c in calls]
    history = [
        Message("user", [Text("Weather?")]),
        Message("assistant", list(calls)),
        Message("tool", results),
    ]
    mock.queue(GReply(text="Sunny in both."))
    second = await p.complete(
        ChatRequest(model="public", messages=history, tools=[weather]), DEP, Exchange()
    )
    assert second.text() == "Sunny in both."
    sent = mock.last.body["contents"][1]["parts"][0]
    assert sent["thoughtSignature"] in mock.signatures

    # The same history with an id that lost its signature: Gemini's 400, not a retry.
    calls[0].id = calls[0].id.split("-s-")[0]
    results[0].call_id = calls[0].id
    with pytest.raises(errors.UpstreamError) as caught:
        await p.complete(
            ChatRequest(model="public", messages=history, tools=[weather]), DEP, Exchange()
        )
    assert caught.value.status == 400 and "thought_signature" in caught.value.message
    assert not caught.value.retryable


def test_the_google_target_keeps_control_params_out_and_may_name_the_model() -> None:
    from gateway.providers.gemini import google_target

    entry = deployment(
        "g",
        "models/gemini-x",
        params={"vertex_location": "eu", "temperature": 0.2},
        supports_reasoning=True,
    )
    target = google_target(entry)
    assert (target.model, dict(target.params)) == ("models/gemini-x", {"temperature": 0.2})
    assert target.supports_reasoning
    assert google_target(entry, "gemini-x").model == "gemini-x"


def test_the_google_target_keeps_every_field_and_leaves_out_what_the_model_refuses() -> None:
    """It copied some fields only: what the model refuses (and its reasoning settings)
    was lost, so a refused deployment param went upstream and Google answered 400."""
    from gateway.catalog import entry_for
    from gateway.catalog.matching import KindVendor
    from gateway.codecs.base import Target
    from gateway.providers.codec_provider import target_of
    from gateway.providers.gemini import google_target

    catalog = entry_for(KindVendor("gemini"), "", "gemini-3.7-flash")
    assert catalog is not None and "temperature" in catalog.rejects  # the bundled catalog
    entry = deployment(
        "g",
        "gemini-3.7-flash",
        params={"temperature": 0.2, "topK": 40, "seed": 7, "vertex_location": "eu"},
        catalog=catalog,
        supports_reasoning=True,
    )
    target = google_target(entry)
    assert dict(target.params) == {"seed": 7}
    assert {"temperature", "top_k", "top_p"} <= target.refuses
    whole = target_of(entry)  # every other field as the shared view has it
    for name in (f.name for f in fields(Target) if f.name not in ("model", "params")):
        assert getattr(target, name) == getattr(whole, name), name
    adapter = adapter_for(ProviderEntry(3, "gem", "gemini", "", KEY, {}, "", None))
    assert adapter.dropped_params(entry) == [
        ("temperature (deployment params)", "dropped", "the model refuses it"),
        ("top_k (deployment params)", "dropped", "the model refuses it"),
    ]
    # control: a model that refuses nothing keeps them, and nothing is noted
    taking = replace(entry, model="gemini-2.5-flash", catalog=None)
    assert dict(google_target(taking).params) == {"temperature": 0.2, "topK": 40, "seed": 7}
    assert adapter.dropped_params(taking) == []


async def test_the_mock_refuses_temperature_on_a_model_that_fixes_its_sampling(
    mock: MockGemini,
) -> None:
    """What the gateway must never send (Google's 400), and the control it takes."""
    body = {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": {"temperature": 0.3},
    }
    headers = {"x-goog-api-key": KEY}
    async with httpx.AsyncClient(base_url=mock.url) as client:
        refused = await client.post(
            "/v1beta/models/gemini-3.7-flash:generateContent", json=body, headers=headers
        )
        taken = await client.post(
            "/v1beta/models/gemini-2.5-flash:generateContent", json=body, headers=headers
        )
    assert refused.status_code == 400
    assert refused.json()["error"]["status"] == "INVALID_ARGUMENT"
    assert "temperature" in refused.json()["error"]["message"]
    assert taken.status_code == 200


async def test_a_refused_deployment_param_never_reaches_gemini(mock: MockGemini) -> None:
    from gateway.catalog import entry_for
    from gateway.catalog.matching import KindVendor

    catalog = entry_for(KindVendor("gemini"), "", "gemini-3.8-flash")
    entry = deployment(
        "public", "gemini-3.8-flash", params={"temperature": 0.2, "seed": 3}, catalog=catalog
    )
    answer = await provider(mock).complete(ask(), entry, Exchange())
    assert answer.text() == "Hi from Gemini."
    assert mock.last.body["generationConfig"] == {"seed": 3}
