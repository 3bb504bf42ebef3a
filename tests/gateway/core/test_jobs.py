"""The output ceiling a budget hold assumed goes upstream (I13): a request of a key (or
team) with a budget that names no max tokens holds the deployment's declared max output,
so that ceiling is sent in the upstream's own field (passed through or translated); an
upstream left to its default could answer longer than what was held. A caller's own
ceiling, and every request without a budget, go as before."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import background, http
from gateway.base.entries import ProviderEntry, TeamEntry
from gateway.core import service
from gateway.limits import spend
from tests.gateway.entries import deployment, route, snapshot
from tests.gateway.limits.test_limits import key

OPENAI = ProviderEntry(911, "oai", "openai", "http://oai.test/v1", "sk-test", {}, "", None)
RESPONSES = ProviderEntry(
    912, "resp", "openai_responses", "http://resp.test/v1", "sk-test", {}, "", None
)
GEMINI = ProviderEntry(913, "gm", "gemini", "http://gemini.test", "k", {}, "", None)
ANTHROPIC = ProviderEntry(914, "ant", "anthropic", "http://ant.test", "sk-test", {}, "", None)
CEILING = 1000

CHAT_ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "up",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
CHAT_STREAM = (
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":'
    b'[{"index":0,"delta":{"role":"assistant","content":"Hi"},"finish_reason":null}]}\n\n'
    b'data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"up","choices":'
    b'[{"index":0,"delta":{},"finish_reason":"stop"}],'
    b'"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}\n\n'
    b"data: [DONE]\n\n"
)
RESPONSES_ANSWER = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "up",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "Hi", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 5, "output_tokens": 1, "total_tokens": 6},
}
GEMINI_ANSWER = {
    "candidates": [
        {"content": {"role": "model", "parts": [{"text": "Hi"}]}, "finishReason": "STOP"}
    ],
    "usageMetadata": {"promptTokenCount": 5, "candidatesTokenCount": 1},
}
MESSAGES_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "up",
    "content": [{"type": "text", "text": "Hi"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 1},
}


def priced_route(name: str, model: str, provider: ProviderEntry, **extra) -> object:
    fields = dict(
        provider=provider,
        input_price=Decimal(1),
        output_price=Decimal(2),
        max_output_tokens=CEILING,
    )
    fields.update(extra)
    return replace(
        route(name, model, max_attempts=1),
        deployments=(deployment(name, model, **fields),),
    )


@pytest.fixture
def upstream(clean, snapshot_reset):
    registry.install(
        snapshot(
            priced_route("chat", "up-1", OPENAI),
            priced_route("thinker", "o3-mini", OPENAI),
            priced_route("resp", "up-r", RESPONSES),
            priced_route("gem", "gemini-x", GEMINI),
            priced_route("claude", "claude-x", ANTHROPIC),
            # no declared max output: the hold assumes the window, nothing is added
            priced_route("windowed", "up-w", OPENAI, max_output_tokens=None, context_window=8000),
        )
    )
    received: list[dict] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        received.append(body)
        host = request.url.host
        if host == "resp.test":
            return httpx.Response(200, json=RESPONSES_ANSWER)
        if host == "gemini.test":
            return httpx.Response(200, json=GEMINI_ANSWER)
        if host == "ant.test":
            return httpx.Response(200, json=MESSAGES_ANSWER)
        if body.get("stream"):
            headers = {"content-type": "text/event-stream"}
            return httpx.Response(200, content=CHAT_STREAM, headers=headers)
        return httpx.Response(200, json=CHAT_ANSWER)

    http.use_transport(httpx.MockTransport(handler))
    yield received
    http.use_transport(None)


async def ask(k, model: str, dialect: str = "openai", **fields) -> dict:
    if dialect == "responses":
        body = {"model": model, "input": "write a lot", "store": False, **fields}
    else:
        body = {"model": model, "messages": [{"role": "user", "content": "write a lot"}], **fields}
    reply = await service.handle("chat", dialect, orjson.dumps(body), {}, service.Caller(key=k))
    if isinstance(reply, service.StreamReply):
        async for _ in reply.chunks:
            pass
        await background.done()
        return {}
    await background.done()
    assert reply.status == 200, reply.body
    answer: dict = orjson.loads(reply.body)
    return answer


def budgeted():
    return key(budget_usd=Decimal(10), budget_period="total")


@pytest.mark.parametrize(
    ("model", "dialect", "stream", "sent"),
    [
        ("chat", "openai", False, ("max_tokens",)),  # passed through
        ("chat", "openai", True, ("max_tokens",)),  # passed through, streamed
        ("thinker", "openai", False, ("max_completion_tokens",)),  # the model's own field
        ("chat", "responses", False, ("max_tokens",)),  # translated to Chat Completions
        ("resp", "openai", False, ("max_output_tokens",)),  # to the Responses API
        ("gem", "openai", False, ("generationConfig", "maxOutputTokens")),  # to Gemini
    ],
)
async def test_a_budgeted_request_without_max_tokens_sends_the_held_ceiling(
    upstream, model: str, dialect: str, stream: bool, sent: tuple[str, ...]
) -> None:
    """The hold assumed the deployment's max output (1000): the upstream is told so in
    its own field, so no answer is longer than what was held."""
    fields = {"stream": True} if stream else {}
    await ask(budgeted(), model, dialect, **fields)
    (body,) = upstream
    value = body
    for name in sent:
        value = value[name]
    assert value == CEILING
    if model == "thinker":
        assert "max_tokens" not in body  # a reasoning model takes only its own field


async def test_a_teams_budget_caps_too_and_the_answer_echoes_what_the_caller_sent(
    upstream, monkeypatch
):
    """A key without a budget of its own in a team with one holds, so it caps; the
    Responses object still says the caller named no ceiling."""

    async def nothing_spent(*_: object) -> Decimal:
        return Decimal(0)

    monkeypatch.setattr(spend, "load_counter_spend", nothing_spent)
    team = TeamEntry(1, "t", None, None, Decimal(10), "total")
    answer = await ask(key(team=team), "chat", "responses")
    assert upstream[-1]["max_tokens"] == CEILING
    assert answer["max_output_tokens"] is None


async def test_the_callers_own_ceiling_and_requests_without_a_budget_go_as_before(upstream):
    """The controls: a caller's own max tokens is sent as it is (not raised to the
    ceiling); a key without a budget sends none; an Anthropic caller's required
    max_tokens stays; a deployment declaring no max output gets nothing added."""
    await ask(budgeted(), "chat", max_tokens=50)
    assert upstream[-1]["max_tokens"] == 50 and "max_completion_tokens" not in upstream[-1]
    await ask(budgeted(), "chat", "responses", max_output_tokens=60)
    assert upstream[-1]["max_tokens"] == 60
    await ask(key(), "chat")
    assert "max_tokens" not in upstream[-1] and "max_completion_tokens" not in upstream[-1]
    await ask(key(), "resp")
    assert "max_output_tokens" not in upstream[-1]
    await ask(budgeted(), "windowed")
    assert "max_tokens" not in upstream[-1]
    await ask(budgeted(), "claude", "anthropic", max_tokens=70)
    assert upstream[-1]["max_tokens"] == 70
