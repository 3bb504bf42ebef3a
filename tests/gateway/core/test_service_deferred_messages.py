"""An agent's request passed through (OpenAI in, OpenAI out) never builds its canonical
messages unless something reads them (issue #67): not with no guardrail, not with one
that reads every text and rewrites none. A guardrail's rewrite and a translation build
them, exactly as an eager parse does, and get every message."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest import mock

import httpx
import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER, GuardrailEntry, ProviderEntry
from gateway.codecs.openai_chat import inbound
from gateway.core import service
from gateway.features.guardrails import engine, texts
from tests.gateway.entries import route, snapshot

Upstream = tuple[list[dict[str, Any]], mock.Mock]  # the bodies sent up, the builder's spy
ANTHROPIC = ProviderEntry(2, "an", "anthropic", "http://anthropic.test", "k", {}, "", None)


def agent_body(turns: int) -> dict[str, Any]:
    """A coding agent's tool loop: a system prompt, a task, ``turns`` calls and results."""
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are a coding agent. Never delete tests."},
        {"role": "user", "content": "Make the suite green."},
    ]
    for i in range(turns):
        arguments = orjson.dumps({"path": f"src/m{i}.py", "limit": i}).decode()
        messages.append(
            {
                "role": "assistant",
                "content": f"Reading module {i}." if i % 2 else None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "read_file", "arguments": arguments},
                    }
                ],
            }
        )
        messages.append(
            {"role": "tool", "tool_call_id": f"call_{i}", "content": f"def f{i}(): pass"}
        )
    tool = {"name": "read_file", "description": "Read a file.", "parameters": {"type": "object"}}
    return {"model": "m", "messages": messages, "tools": [{"type": "function", "function": tool}]}


ANSWERS = {
    "mock": {
        "id": "c1",
        "object": "chat.completion",
        "created": 1,
        "model": "up-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    },
    "anthropic.test": {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "up-1",
        "content": [{"type": "text", "text": "ok"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 5, "output_tokens": 1},
    },
}


@pytest.fixture
def upstream(monkeypatch: pytest.MonkeyPatch, snapshot_reset: None) -> Iterator[Upstream]:
    """Routes ``m`` (OpenAI-compatible) and ``ant`` (Anthropic); yields the bodies the
    upstreams got and a spy on the builder of canonical messages."""
    monkeypatch.setattr(journal, "record", lambda record: None)
    seen: list[dict[str, Any]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(orjson.loads(request.content))
        return httpx.Response(200, json=ANSWERS[request.url.host])

    http.use_transport(httpx.MockTransport(answer))
    built = mock.Mock()  # called for each list of canonical messages built, either way
    for builder in ("_messages", "_built_messages"):  # at once, or deferred
        monkeypatch.setattr(inbound, builder, counted(getattr(inbound, builder), built))
    yield seen, built
    http.use_transport(None)


def counted(builder: Any, spy: mock.Mock) -> Any:
    def build(*args: Any) -> Any:
        spy()
        return builder(*args)

    return build


def install(*guards: GuardrailEntry) -> None:
    snap = snapshot(
        route("m", "up-1", max_attempts=1), route("ant", "up-1", provider=ANTHROPIC, max_attempts=1)
    )
    snap.guardrails = {g.name: g for g in guards}
    snap.default_guardrails = tuple(g.name for g in guards)
    registry.install(snap)


async def send(body: dict[str, Any]) -> Any:
    raw = orjson.dumps(body)
    return await service.handle("chat", "openai", raw, {}, service.Caller(key=MASTER))


async def test_a_passthrough_with_no_guardrail_builds_no_canonical_message(
    upstream: Upstream,
) -> None:
    seen, built = upstream
    install()
    body = agent_body(30)
    reply = await send(body)
    assert reply.status == 200, reply.body
    assert built.call_count == 0
    assert seen == [{**body, "model": "up-1"}]  # as sent, but for the deployment's model


FILTER = GuardrailEntry(
    id=7,
    name="words",
    kind="litellm_content_filter",
    modes=frozenset({"pre_call"}),
    params={
        "patterns": [{"pattern_type": "prebuilt", "pattern_name": "email", "action": "MASK"}],
        "blocked_words": [{"keyword": "forbidden", "action": "BLOCK"}],
    },
)


async def test_a_guardrail_reads_every_text_and_builds_no_message_to_pass(
    upstream: Upstream, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen, built = upstream
    install(FILTER)
    checked: list[list[str]] = []
    run = engine.run

    async def reading(entries: Any, given: list[str], *args: Any) -> list[str]:
        checked.append(list(given))
        return await run(entries, given, *args)

    monkeypatch.setattr(engine, "run", reading)
    # these texts hold none of the filter's hints, so the plane would note them clean
    # without running the check (``engine.known_clean``): made to run it here
    monkeypatch.setattr(engine, "known_clean", lambda *args: False)
    body = agent_body(30)
    reply = await send(body)
    assert reply.status == 200, reply.body
    assert built.call_count == 0  # texts read off the wire messages, nothing rewritten
    with mock.patch.object(inbound, "_scan", return_value=None):  # every message at once
        expected = texts.request_slots(inbound.parse_request(body, {})).texts
    assert built.call_count == 1
    assert checked == [expected]
    assert "def f29(): pass" in expected and '{"path":"src/m0.py","limit":0}' in expected
    # a word deep in the history: seen, and refused with nothing sent upstream
    body["messages"][40]["content"] = "this is forbidden"
    refused = await send(body)
    assert refused.status == 400 and len(seen) == 1


async def test_a_rewrite_lands_in_the_built_messages_and_the_body(upstream: Upstream) -> None:
    seen, built = upstream
    install(FILTER)
    body = agent_body(30)
    body["messages"][41]["content"] = "mail me at ann@example.com"  # a tool result
    reply = await send(body)
    assert reply.status == 200, reply.body
    assert built.call_count == 1  # built for the rewrite to land in
    sent = seen[0]["messages"][41]["content"]
    assert "ann@example.com" not in sent and sent.startswith("mail me at ")
    assert seen[0]["messages"][40] == body["messages"][40]  # the rest as it came


async def test_a_translation_sends_every_message(upstream: Upstream) -> None:
    seen, built = upstream
    install()
    body = {**agent_body(3), "model": "ant"}
    reply = await send(body)
    assert reply.status == 200, reply.body
    assert built.call_count >= 1
    sent = seen[0]
    assert sent["system"][0]["text"].startswith("You are a coding agent")
    uses = [b for m in sent["messages"] for b in m["content"] if b["type"] == "tool_use"]
    results = [b for m in sent["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert [u["input"] for u in uses] == [{"path": f"src/m{i}.py", "limit": i} for i in range(3)]
    assert [r["tool_use_id"] for r in results] == ["call_0", "call_1", "call_2"]
