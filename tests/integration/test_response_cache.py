"""The response cache on a real server, driven by the OpenAI and Anthropic SDKs: a
repeated request never reaches the mock upstream (counted there), a cached answer is
replayed as a stream in either dialect, and Cache-Control: no-cache goes upstream."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest

from .conftest import Stack, start_stack
from .mock_upstream import MockUpstream, Reply, ToolUse


def create_cached_route(stack: Stack, provider: str, model: str, ttl: int = 300) -> str:
    name = f"cached-{uuid.uuid4().hex[:8]}"
    reply = httpx.post(
        stack.url + "/api/routes/",
        headers={"Authorization": f"Bearer {stack.key}"},
        json={
            "name": name,
            "max_attempts": 1,
            "cache_ttl": ttl,
            "deployments": [{"provider": provider, "model": model, "max_output_tokens": 8192}],
        },
        timeout=10,
    )
    assert reply.status_code == 201, reply.text
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the server's snapshot picks it up within a second
        models = httpx.get(
            stack.url + "/v1/models", headers={"Authorization": f"Bearer {stack.key}"}
        ).json()
        if any(m["id"] == name for m in models["data"]):
            return name
        time.sleep(0.1)
    raise AssertionError(f"route {name} never appeared")


@pytest.fixture(scope="module")
def cached_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with start_stack(tmp_path_factory) as running:
        yield running


@pytest.fixture
def upstream(cached_stack: Stack) -> Iterator[MockUpstream]:
    cached_stack.mock.reset()
    yield cached_stack.mock
    cached_stack.mock.reset()


def test_openai_sdk_second_request_is_a_hit_with_no_upstream_request(cached_stack, upstream):
    route = create_cached_route(cached_stack, "mock-openai", "up-gpt")
    client = cached_stack.openai()
    messages = [{"role": "user", "content": "what is the capital of France?"}]
    first = client.chat.completions.with_raw_response.create(model=route, messages=messages)
    assert first.headers["x-switchyard-cache"] == "miss"
    assert len(upstream.chat_requests()) == 1
    second = client.chat.completions.with_raw_response.create(model=route, messages=messages)
    assert second.headers["x-switchyard-cache"] == "hit"
    assert len(upstream.chat_requests()) == 1
    answer = second.parse()
    assert answer.choices[0].message.content == "Hello from the mock upstream."
    assert answer.model == route and answer.usage.completion_tokens == 7

    other = client.chat.completions.with_raw_response.create(
        model=route, messages=messages, temperature=0.3
    )
    assert other.headers["x-switchyard-cache"] == "miss" and len(upstream.chat_requests()) == 2

    fresh = client.chat.completions.with_raw_response.create(
        model=route, messages=messages, extra_headers={"Cache-Control": "no-cache"}
    )
    assert fresh.headers["x-switchyard-cache"] == "miss" and len(upstream.chat_requests()) == 3
    cached_stack.assert_clean_log()


def test_openai_sdk_stream_replays_a_cached_answer(cached_stack, upstream):
    route = create_cached_route(cached_stack, "mock-openai", "up-gpt")
    upstream.default = lambda seen: Reply(
        text="Streaming words, replayed.",
        tool_calls=[ToolUse("call_7", "lookup", '{"q": "Paris"}')],
    )
    client = cached_stack.openai()
    messages = [{"role": "user", "content": "stream it"}]

    def run() -> tuple[str, list, str, object]:
        stream = client.chat.completions.create(
            model=route, messages=messages, stream=True, stream_options={"include_usage": True}
        )
        text, calls, finish, usage = "", {}, "", None
        for chunk in stream:
            if chunk.usage:
                usage = chunk.usage
            for choice in chunk.choices:
                text += choice.delta.content or ""
                for call in choice.delta.tool_calls or []:
                    entry = calls.setdefault(call.index, {"id": "", "name": "", "args": ""})
                    entry["id"] = call.id or entry["id"]
                    entry["name"] = (call.function.name or "") or entry["name"]
                    entry["args"] += call.function.arguments or ""
                finish = choice.finish_reason or finish
        return text, list(calls.values()), finish, usage

    live = run()
    assert len(upstream.chat_requests()) == 1
    replayed = run()
    assert len(upstream.chat_requests()) == 1
    assert replayed[0] == live[0] == "Streaming words, replayed."
    (call,) = replayed[1]
    assert (call["id"], call["name"]) == ("call_7", "lookup")  # as the live stream had them
    assert json.loads(call["args"]) == json.loads(live[1][0]["args"]) == {"q": "Paris"}
    assert replayed[2] == "tool_calls" and replayed[3].completion_tokens == 7
    cached_stack.assert_clean_log()


def test_anthropic_sdk_stream_replays_a_cached_answer(cached_stack, upstream):
    route = create_cached_route(cached_stack, "mock-anthropic", "up-claude")
    upstream.default = lambda seen: Reply(
        text="Bonjour from the cache.", reasoning="thinking it over"
    )
    client = cached_stack.anthropic()
    params = dict(
        model=route, max_tokens=256, messages=[{"role": "user", "content": "say hi in French"}]
    )
    with client.messages.stream(**params) as stream:
        live = stream.get_final_message()
    assert len(upstream.chat_requests()) == 1
    raw = client.messages.with_raw_response.create(**params, stream=True)
    assert raw.headers["x-switchyard-cache"] == "hit"
    raw.http_response.close()
    with client.messages.stream(**params) as stream:
        replayed = stream.get_final_message()
    assert len(upstream.chat_requests()) == 1
    assert (
        [b.type for b in replayed.content]
        == [b.type for b in live.content]
        == [
            "thinking",
            "text",
        ]
    )
    assert replayed.content[1].text == live.content[1].text == "Bonjour from the cache."
    assert replayed.content[0].thinking == "thinking it over"
    assert replayed.content[0].signature == live.content[0].signature
    assert replayed.stop_reason == live.stop_reason == "end_turn"
    assert replayed.usage.output_tokens == live.usage.output_tokens == 7
    assert replayed.model == route
    cached_stack.assert_clean_log()


def test_an_answer_cached_through_openai_streams_to_an_anthropic_client(cached_stack, upstream):
    route = create_cached_route(cached_stack, "mock-openai", "up-gpt")
    prompt = "one answer, two dialects"
    cached_stack.openai().chat.completions.create(
        model=route, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    )
    with cached_stack.anthropic().messages.stream(
        model=route, max_tokens=100, messages=[{"role": "user", "content": prompt}]
    ) as stream:
        message = stream.get_final_message()
    assert len(upstream.chat_requests()) == 1
    assert message.content[0].text == "Hello from the mock upstream."
    rows = cached_stack.gw.shell_until(
        "from gateway.models import RequestLog\n"
        f"print(list(RequestLog.objects.filter(route={route!r}).order_by('id')"
        ".values_list('cache_hit', 'dialect', 'cost_usd', 'deployment_id')))",
        lambda out: out.count("Decimal(") >= 2,
    )
    assert "(False, 'openai'" in rows and "(True, 'anthropic', Decimal('0E-8'), None)" in rows


def test_thirty_identical_requests_at_once_make_one_upstream_call(cached_stack, upstream):
    """Single flight: the first request calls (the mock takes half a second), the 29
    others wait for its answer, half of them streamed, and are served it as hits."""
    import asyncio

    route = create_cached_route(cached_stack, "mock-openai", "up-gpt")
    upstream.default = lambda seen: Reply(text="One answer for all.", delay=0.5)

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=30)
        headers = {"Authorization": f"Bearer {cached_stack.key}"}
        async with httpx.AsyncClient(limits=limits, timeout=30, headers=headers) as client:
            body = {"model": route, "messages": [{"role": "user", "content": "one question"}]}
            return await asyncio.gather(
                *(
                    client.post(
                        cached_stack.url + "/v1/chat/completions",
                        json={**body, "stream": True} if n % 2 else body,
                    )
                    for n in range(30)
                )
            )

    replies = asyncio.run(burst())
    assert len(upstream.chat_requests()) == 1
    assert all(r.status_code == 200 for r in replies), [r.text for r in replies]
    states = sorted(r.headers["x-switchyard-cache"] for r in replies)
    assert states == ["hit"] * 29 + ["miss"]
    for n, reply in enumerate(replies):
        if n % 2:
            events = [json.loads(x[6:]) for x in reply.text.split("\n") if x[6:7] == "{"]
            deltas = [e["choices"][0]["delta"] for e in events if e["choices"]]
            text = "".join(d.get("content") or "" for d in deltas)
        else:
            text = reply.json()["choices"][0]["message"]["content"]
        assert text == "One answer for all.", reply.text
    cached_stack.assert_clean_log()
