"""The response cache through ``service.handle``: a repeated request is answered from
the cache without an upstream call, in the caller's dialect, streamed or not; the
client's Cache-Control is honoured; errors are never cached; hits are journaled."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import httpx
import orjson

from gateway.access import registry
from gateway.base.entries import MASTER, KeyEntry
from gateway.core import cache, service
from tests.gateway.entries import route, snapshot

ANSWER = {
    "id": "chatcmpl-up",
    "object": "chat.completion",
    "created": 1,
    "model": "up-1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Paris is the capital."},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 9, "completion_tokens": 5, "total_tokens": 14},
}
TOOL_ANSWER = {
    **ANSWER,
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
}


def sse(answer: dict) -> bytes:
    message = answer["choices"][0]["message"]
    base = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "up-1"}
    chunks = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    if message.get("content"):
        for word in message["content"].split(" "):
            delta = {"content": word + " "}
            chunks.append({**base, "choices": [{"index": 0, "delta": delta}]})
    finish = answer["choices"][0]["finish_reason"]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
    chunks.append({**base, "choices": [], "usage": answer["usage"]})
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


class Upstream:
    def __init__(self) -> None:
        self.seen: list[dict] = []
        self.answer: dict = ANSWER
        self.status = 200

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        self.seen.append(body)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": {"message": "upstream broke"}})
        if body.get("stream"):
            return httpx.Response(
                200, headers={"content-type": "text/event-stream"}, content=sse(self.answer)
            )
        return httpx.Response(200, json=self.answer)


def key(id_: int, routes: frozenset[str] | None = None) -> KeyEntry:
    return KeyEntry(id_, f"k{id_}", f"sy-{id_}", routes, None, None, None, "total", None, False)


async def ask(
    dialect: str = "openai",
    model: str = "cached",
    text: str = "capital of France?",
    stream: bool = False,
    headers: dict[str, str] | None = None,
    caller_key: KeyEntry = MASTER,
    **params,
):
    body: dict = {"model": model, "messages": [{"role": "user", "content": text}], **params}
    if dialect == "anthropic":
        body.setdefault("max_tokens", 100)
    if stream:
        body["stream"] = True
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), headers or {}, service.Caller(key=caller_key)
    )
    if isinstance(reply, service.StreamReply):
        raw = b"".join([chunk async for chunk in reply.chunks])
    else:
        raw = reply.body
    await cache.settle()
    return reply.status, dict(reply.headers), raw


async def test_a_repeated_request_is_a_hit_without_an_upstream_call(gateway):
    upstream, recorded = gateway
    status, headers, first = await ask()
    assert status == 200 and headers[b"x-switchyard-cache"] == b"miss"
    status, headers, second = await ask()
    assert status == 200 and headers[b"x-switchyard-cache"] == b"hit"
    assert len(upstream.seen) == 1
    body = orjson.loads(second)
    assert body["choices"][0]["message"]["content"] == "Paris is the capital."
    assert body["model"] == "cached" and body["usage"]["completion_tokens"] == 5
    miss, hit = recorded
    assert not miss.cache_hit and miss.deployment_id is not None
    assert hit.cache_hit and hit.status == 200 and hit.cost_usd == Decimal(0)
    assert hit.attempts == [] and hit.deployment_id is None and hit.route == "cached"
    assert hit.output_tokens == 5  # what the answer reports, at no upstream cost


async def test_model_parameters_are_part_of_the_key(gateway):
    upstream, _ = gateway
    await ask(temperature=0.2)
    await ask(temperature=0.7)
    await ask(temperature=0.2, max_tokens=50)
    await ask(text="capital of Spain?")
    assert len(upstream.seen) == 4
    _, headers, _ = await ask(temperature=0.7)
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 4


async def test_a_route_without_a_ttl_is_never_cached_and_says_nothing(gateway):
    upstream, recorded = gateway
    for _ in range(2):
        _, headers, _ = await ask(model="plain")
        assert b"x-switchyard-cache" not in headers
    assert len(upstream.seen) == 2 and not any(r.cache_hit for r in recorded)


async def test_no_cache_skips_the_lookup_but_stores_the_fresh_answer(gateway):
    upstream, _ = gateway
    await ask()
    upstream.answer = {**ANSWER, "choices": [{**ANSWER["choices"][0]}]}
    upstream.answer["choices"][0]["message"] = {"role": "assistant", "content": "Fresh."}
    _, headers, body = await ask(headers={"cache-control": "no-cache"})
    assert headers[b"x-switchyard-cache"] == b"miss" and len(upstream.seen) == 2
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "Fresh."
    _, headers, body = await ask()
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 2
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "Fresh."


async def test_no_store_neither_reads_nor_writes(gateway):
    upstream, _ = gateway
    await ask(text="one", headers={"cache-control": "no-store"})
    await ask(text="one")  # a miss: no-store wrote nothing
    assert len(upstream.seen) == 2
    await ask(text="one", headers={"cache-control": "no-store"})  # does not read either
    assert len(upstream.seen) == 3
    _, headers, _ = await ask(text="one")
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 3


async def test_errors_are_not_cached(gateway):
    upstream, _ = gateway
    upstream.status = 500
    status, _, _ = await ask()
    assert status == 502
    upstream.status = 200
    status, headers, _ = await ask()
    assert status == 200 and headers[b"x-switchyard-cache"] == b"miss"
    assert len(upstream.seen) == 2


async def test_an_answer_cached_for_openai_serves_an_anthropic_client(gateway):
    upstream, _ = gateway
    await ask("openai", max_tokens=100)
    status, headers, body = await ask("anthropic", max_tokens=100)
    assert status == 200 and headers[b"x-switchyard-cache"] == b"hit"
    data = orjson.loads(body)
    assert data["type"] == "message" and data["id"].startswith("msg_")
    assert data["content"] == [{"type": "text", "text": "Paris is the capital."}]
    assert data["stop_reason"] == "end_turn" and data["model"] == "cached"
    assert len(upstream.seen) == 1


async def test_a_streamed_miss_is_cached_and_replayed_as_an_openai_stream(gateway):
    upstream, _ = gateway
    _, headers, live = await ask(stream=True, stream_options={"include_usage": True})
    assert headers[b"x-switchyard-cache"] == b"miss"
    _, headers, replay = await ask(stream=True, stream_options={"include_usage": True})
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 1
    chunks = [orjson.loads(line[6:]) for line in replay.split(b"\n\n") if line[6:7] == b"{"]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "Paris is the capital. "  # what the live stream said, word spaces and all
    assert chunks[-1]["usage"]["completion_tokens"] == 5
    assert replay.endswith(b"data: [DONE]\n\n")
    # the non-streamed form of the same request is served from the streamed answer
    _, headers, body = await ask()
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 1
    assert orjson.loads(body)["choices"][0]["message"]["content"] == "Paris is the capital. "


async def test_a_cached_answer_replays_as_an_anthropic_stream(gateway):
    upstream, recorded = gateway
    await ask("anthropic", max_tokens=100)
    _, headers, replay = await ask("anthropic", max_tokens=100, stream=True)
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 1
    names = [line[7:] for line in replay.split(b"\n") if line.startswith(b"event: ")]
    assert names == [
        b"message_start",
        b"content_block_start",
        b"content_block_delta",
        b"content_block_stop",
        b"message_delta",
        b"message_stop",
    ]
    assert b'"text":"Paris is the capital."' in replay and b'"stop_reason":"end_turn"' in replay
    hit = recorded[-1]
    assert hit.cache_hit and hit.stream and hit.status == 200 and hit.ttft_ms is not None


async def test_tool_calls_are_cached_and_replayed(gateway):
    upstream, _ = gateway
    upstream.answer = TOOL_ANSWER
    await ask(text="weather?")
    _, headers, body = await ask(text="weather?", stream=True)
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 1
    chunks = [orjson.loads(line[6:]) for line in body.split(b"\n\n") if line[6:7] == b"{"]
    calls = [c["choices"][0]["delta"].get("tool_calls") for c in chunks if c["choices"]]
    first = next(c for c in calls if c)[0]
    assert first["id"] == "call_1" and first["function"]["name"] == "weather"
    arguments = "".join(c[0]["function"].get("arguments", "") for c in calls if c)
    assert orjson.loads(arguments) == {"city": "Paris"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"


async def test_route_scope_shares_answers_between_keys_allowed_on_the_route(gateway):
    upstream, _ = gateway
    await ask(caller_key=key(1))
    _, headers, _ = await ask(caller_key=key(2))
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 1


async def test_a_key_not_allowed_on_the_route_is_refused_before_the_cache(gateway):
    upstream, _ = gateway
    await ask()
    status, headers, body = await ask(caller_key=key(3, frozenset({"plain"})))
    assert status == 403 and b"x-switchyard-cache" not in headers
    assert b"Paris" not in body and len(upstream.seen) == 1


async def test_key_scope_keeps_each_keys_answers_apart(gateway):
    upstream, _ = gateway
    await ask(model="scoped", caller_key=key(1))
    _, headers, _ = await ask(model="scoped", caller_key=key(2))
    assert headers[b"x-switchyard-cache"] == b"miss" and len(upstream.seen) == 2
    _, headers, _ = await ask(model="scoped", caller_key=key(1))
    assert headers[b"x-switchyard-cache"] == b"hit" and len(upstream.seen) == 2


async def test_several_choices_are_not_cached(gateway):
    upstream, _ = gateway
    await ask(n=2)
    _, headers, _ = await ask(n=2)
    assert len(upstream.seen) == 2 and b"x-switchyard-cache" in headers


async def test_the_responses_api_is_served_from_the_same_cache(gateway):
    upstream, _ = gateway
    await ask()  # cached through chat completions
    body = {"model": "cached", "input": "capital of France?"}
    reply = await service.handle(
        "chat", "responses", orjson.dumps(body), {}, service.Caller(key=MASTER)
    )
    assert reply.status == 200 and dict(reply.headers)[b"x-switchyard-cache"] == b"hit"
    output = orjson.loads(reply.body)["output"]
    assert output[0]["content"][0]["text"] == "Paris is the capital."
    streamed = await service.handle(
        "chat",
        "responses",
        orjson.dumps({**body, "stream": True}),
        {},
        service.Caller(key=MASTER),
    )
    raw = b"".join([chunk async for chunk in streamed.chunks])
    assert dict(streamed.headers)[b"x-switchyard-cache"] == b"hit"
    assert b"response.output_text.delta" in raw and b"response.completed" in raw
    assert b"Paris is the capital." in raw and len(upstream.seen) == 1


async def test_repointing_the_route_to_another_model_is_a_miss(gateway):
    upstream, _ = gateway
    await ask()
    moved = dataclasses.replace(route("cached", "up-2", max_attempts=1), cache_ttl=60)
    registry.install(snapshot(moved))
    _, headers, _ = await ask()
    assert headers[b"x-switchyard-cache"] == b"miss" and len(upstream.seen) == 2
    assert upstream.seen[-1]["model"] == "up-2"


async def test_a_streamed_answer_longer_than_the_fold_cap_is_relayed_whole_not_cached(
    gateway, settings
):
    upstream, _ = gateway
    settings.SWITCHYARD_MAX_ANSWER_BYTES = 1024
    long_text = " ".join(f"word{n}" for n in range(400))  # about 3.5 kB
    upstream.answer = {
        **ANSWER,
        "choices": [
            {**ANSWER["choices"][0], "message": {"role": "assistant", "content": long_text}}
        ],
    }
    status, headers, body = await ask(stream=True, text="a long one")
    assert status == 200 and body.count(b"word") == 400  # the relay is not capped
    status, headers, _ = await ask(stream=True, text="a long one")
    assert headers[b"x-switchyard-cache"] == b"miss" and len(upstream.seen) == 2
