"""The Cohere provider: where it posts, how it authenticates, and the shared codec path
(errors with Retry-After, streams) exercised over a mock transport."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import errors, http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.base.streaming import fold_events
from gateway.base.types import ChatRequest, Message, Text
from gateway.core import service
from gateway.providers.base import Exchange, adapter_for
from gateway.providers.cohere import CohereProvider, api_root

from ..entries import deployment, route, snapshot

FIXTURES = Path(__file__).parents[2] / "fixtures" / "cohere"
SECRET = "co-test-secret-0123456789"


def provider(
    base_url: str = "", secret: str = SECRET, headers: dict[str, str] | None = None
) -> ProviderEntry:
    return ProviderEntry(9, "co", "cohere", base_url, secret, headers or {}, "", None)


REQUEST = ChatRequest(model="r", messages=[Message("user", [Text("hi")])])


def serve(handler) -> list[httpx.Request]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    http.use_transport(httpx.MockTransport(record))
    return seen


def test_kind_is_registered() -> None:
    assert isinstance(adapter_for(provider()), CohereProvider)


@pytest.mark.parametrize(
    ("base", "root"),
    [
        ("", "https://api.cohere.com"),
        ("https://api.cohere.com/", "https://api.cohere.com"),
        ("https://api.cohere.com/v2", "https://api.cohere.com"),
        ("https://api.cohere.com/v2/chat", "https://api.cohere.com"),
        ("https://api.cohere.ai/v1/chat/", "https://api.cohere.ai"),
        ("https://api.cohere.ai/v1", "https://api.cohere.ai"),
        ("http://proxy.local/cohere", "http://proxy.local/cohere"),
    ],
)
def test_api_root(base: str, root: str) -> None:
    assert api_root(base) == root


async def test_complete_posts_bearer_auth_and_extra_headers() -> None:
    seen = serve(lambda r: httpx.Response(200, content=(FIXTURES / "text.json").read_bytes()))
    entry = provider("http://co.test", headers={"X-Client-Name": "switchyard"})
    exchange = Exchange()
    response = await CohereProvider(entry).complete(
        REQUEST, deployment("r", "command-a-03-2025", provider=entry), exchange
    )
    assert response.text() == "Hello! How can I help you today?"
    assert str(seen[0].url) == "http://co.test/v2/chat"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"
    assert seen[0].headers["x-client-name"] == "switchyard"
    assert orjson.loads(seen[0].content)["model"] == "command-a-03-2025"
    assert exchange.usage.output_tokens == 9


async def test_stream_folds_and_asks_for_a_stream() -> None:
    body = (FIXTURES / "tool_calls.sse").read_bytes()
    seen = serve(lambda r: httpx.Response(200, content=body))
    entry = provider("http://co.test")
    request = ChatRequest(model="r", messages=REQUEST.messages, stream=True)
    exchange = Exchange()
    events = [
        e
        async for e in CohereProvider(entry).stream(
            request, deployment("r", "c", provider=entry), exchange
        )
    ]
    assert orjson.loads(seen[0].content)["stream"] is True
    folded = fold_events(events)
    assert [c.name for c in folded.tool_calls()] == ["get_weather", "get_time"]
    assert folded.finish_reason == "tool_calls" and exchange.usage.input_tokens == 37


@pytest.mark.parametrize("secret", ["", "os.environ/SYTEST_UNSET_COHERE_KEY"])
async def test_missing_key_is_a_configuration_error_without_a_request(secret: str) -> None:
    seen = serve(lambda r: httpx.Response(200, json={}))
    entry = provider("http://co.test", secret=secret)
    with pytest.raises(errors.ConfigurationError) as caught:
        await CohereProvider(entry).complete(
            REQUEST, deployment("r", "c", provider=entry), Exchange()
        )
    assert seen == [] and not caught.value.retryable


async def test_env_secret_is_resolved_at_call_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYTEST_COHERE_KEY", "co-from-env")
    seen = serve(lambda r: httpx.Response(200, content=(FIXTURES / "text.json").read_bytes()))
    entry = provider("http://co.test", secret="os.environ/SYTEST_COHERE_KEY")
    await CohereProvider(entry).complete(REQUEST, deployment("r", "c", provider=entry), Exchange())
    assert seen[0].headers["authorization"] == "Bearer co-from-env"


async def test_rate_limit_carries_retry_after_and_never_the_secret() -> None:
    serve(
        lambda r: httpx.Response(
            429, json={"id": "x", "message": "trial key rate limit"}, headers={"retry-after": "3"}
        )
    )
    entry = provider("http://co.test")
    with pytest.raises(errors.UpstreamError) as caught:
        await CohereProvider(entry).complete(
            REQUEST, deployment("r", "c", provider=entry), Exchange()
        )
    assert caught.value.status == 429 and caught.value.retry_after == 3 and caught.value.retryable
    assert SECRET not in caught.value.message


async def test_invalid_token_498_is_an_auth_rejection() -> None:
    serve(lambda r: httpx.Response(498, json={"message": "invalid api token"}))
    entry = provider("http://co.test")
    with pytest.raises(errors.UpstreamError) as caught:
        await CohereProvider(entry).complete(
            REQUEST, deployment("r", "c", provider=entry), Exchange()
        )
    assert caught.value.status == 401 and not caught.value.retryable


async def test_list_models_asks_for_chat_models() -> None:
    seen = serve(
        lambda r: httpx.Response(
            200, json={"models": [{"name": "command-a-03-2025"}, {"name": "command-r7b-12-2024"}]}
        )
    )
    names = await CohereProvider(provider("http://co.test/v2")).list_models()
    assert names == ["command-a-03-2025", "command-r7b-12-2024"]
    assert seen[0].url.path == "/v1/models" and seen[0].url.params["endpoint"] == "chat"
    assert seen[0].headers["authorization"] == f"Bearer {SECRET}"

    serve(lambda r: httpx.Response(401, json={"message": "invalid api token"}))
    with pytest.raises(errors.UpstreamError) as caught:
        await CohereProvider(provider("http://co.test")).list_models()
    assert caught.value.status == 401


async def test_stream_failing_before_any_content_raises_before_the_first_event() -> None:
    body = (
        b'event: message-start\ndata: {"type": "message-start", "id": "x"}\n\n'
        b'event: message-end\ndata: {"type": "message-end", '
        b'"delta": {"finish_reason": "ERROR", "error": "overloaded model"}}\n\n'
    )
    serve(lambda r: httpx.Response(200, content=body))
    entry = provider("http://co.test")
    request = ChatRequest(model="r", messages=REQUEST.messages, stream=True)
    with pytest.raises(errors.UpstreamError) as caught:
        async for _ in CohereProvider(entry).stream(
            request, deployment("r", "c", provider=entry), Exchange()
        ):
            pass
    assert caught.value.retryable and "overloaded model" in caught.value.message


async def test_route_without_drop_params_refuses_what_cohere_cannot_honour(
    snapshot_reset,
) -> None:
    seen = serve(lambda r: httpx.Response(200, content=(FIXTURES / "text.json").read_bytes()))
    entry = provider("http://co.test")
    strict = replace(route("co-strict", "command-a-03-2025", provider=entry), drop_params=False)
    registry.install(snapshot(strict))
    body = {
        "model": "co-strict",
        "messages": [{"role": "user", "content": "x"}],
        "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}],
        "parallel_tool_calls": False,
    }
    reply = await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 400 and b"parallel_tool_calls" in reply.body and seen == []

    registry.install(snapshot(replace(strict, drop_params=True)))
    reply = await service.handle(
        "chat", "openai", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200 and "parallel_tool_calls" not in orjson.loads(seen[0].content)
