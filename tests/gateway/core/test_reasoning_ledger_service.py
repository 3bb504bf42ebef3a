"""Two-turn tool loops with thinking on, through the service, for client x upstream pairs
whose client dialect cannot carry the upstream's signed reasoning back: the gateway's
reasoning ledger restores it (the strict mocks refuse or degrade the second turn
otherwise), keeps it per virtual key, and drops what a fallback's family cannot read.

The mocks are the integration ones on 127.0.0.1: Anthropic refuses a thinking
signature it never issued and, with thinking on, a last tool-use turn without its
thinking block; Gemini refuses a function call that lost its thought signature."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import orjson
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import background, http
from gateway.base.entries import MASTER, ProviderEntry
from gateway.core import reasoning_ledger, service
from gateway.routing import routing
from tests.gateway.entries import route, snapshot
from tests.integration.mock_gemini import GReply
from tests.integration.mock_upstream import MockUpstream, Reply, ToolUse

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
THOUGHT = "The user wants the weather in Paris; I should call get_weather."
SIGNATURE = "EqQBCkYIBxgCKkDsigned-by-claude-0123456789"
OTHER_KEY = replace(MASTER, id=4242, name="other", prefix="sk-other")


@pytest.fixture(scope="module")
def claude_mock():
    mock = MockUpstream().start()
    yield mock
    mock.stop()


@pytest.fixture
def upstreams(claude_mock, gemini_mock, monkeypatch, snapshot_reset, settings):
    settings.REDIS_URL = ""
    claude_mock.reset()
    claude_mock.strict_signatures = True
    gemini_mock.reset()
    reasoning_ledger.reset()
    routing.reset()
    monkeypatch.setattr(journal, "record", lambda record: None)
    http.use_transport(None)
    anthropic = ProviderEntry(
        71, "claude-up", "anthropic", claude_mock.url, "sk-ant-x", {}, "", None
    )
    gemini = ProviderEntry(
        72, "gem-up", "gemini", gemini_mock.url, gemini_mock.api_key, {}, "", None
    )

    def reasoning(r):
        deps = tuple(
            replace(d, supports_reasoning=True, max_output_tokens=8192) for d in r.deployments
        )
        return replace(r, deployments=deps)

    claude = reasoning(route("claude", "claude-sonnet-4-5", max_attempts=1, provider=anthropic))
    gem = reasoning(route("gem", "gemini-3-pro-preview", max_attempts=1, provider=gemini))
    falls = reasoning(
        route(
            "claude-or-gem",
            "claude-sonnet-4-5",
            max_attempts=1,
            provider=anthropic,
            fallbacks=["gem"],
        )
    )
    # OpenAI chat upstreams (the same mock answers chat completions): a route a chat
    # client's body passes through, and one that may fall back to a translating route
    openai = ProviderEntry(73, "chat-up", "openai", claude_mock.url, "sk-chat-x", {}, "", None)
    chat = route("chat", "gpt-4o", max_attempts=1, provider=openai)
    chat_falls = route("chat-or-claude", "gpt-4o", max_attempts=1, provider=openai)
    chat_falls = replace(chat_falls, fallbacks=("claude",))
    # a model the catalog does not know, reasoning: earlier turns' reasoning is echoed
    # back to it as reasoning_content (DeepSeek-style)
    echoing = reasoning(route("chat-echo", "house-reasoner-1", max_attempts=1, provider=openai))
    registry.install(snapshot(claude, gem, falls, chat, chat_falls, echoing))
    yield claude_mock, gemini_mock
    reasoning_ledger.reset()
    routing.reset()


async def call(dialect: str, body: dict[str, Any], key=MASTER, **kw) -> tuple[int, Any]:
    reply = await service.handle(
        "chat", dialect, orjson.dumps(body), {}, service.Caller(key=key), **kw
    )
    if isinstance(reply, service.StreamReply):
        chunks = b"".join([c async for c in reply.chunks])
        await background.done()
        return reply.status, chunks
    await background.done()
    return reply.status, orjson.loads(reply.body)


def claude_tool_turn(call_id: str = "toolu_01") -> Reply:
    return Reply(
        reasoning=THOUGHT,
        signature=SIGNATURE,
        tool_calls=[ToolUse(call_id, "get_weather", '{"city": "Paris"}')],
    )


def last_assistant(body: dict[str, Any]) -> dict[str, Any]:
    return [m for m in body["messages"] if m["role"] == "assistant"][-1]


# --- OpenAI chat client -> Anthropic upstream ------------------------------------------------


def chat_history(call_id: str, reasoning: str = THOUGHT) -> list[dict[str, Any]]:
    return [
        {"role": "user", "content": "Weather in Paris?"},
        {
            "role": "assistant",
            "content": None,
            "reasoning_content": reasoning,  # what a chat client keeps: text, no signature
            "tool_calls": [
                {
                    "id": call_id,
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call_id, "content": "18 C, sunny"},
    ]


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_chat_client_on_anthropic_keeps_thinking_across_the_tool_loop(
    upstreams, stream
):
    claude, _ = upstreams
    claude.queue(claude_tool_turn(), Reply(text="It is 18 C and sunny."))
    first = {
        "model": "claude",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "reasoning_effort": "high",
        "stream": stream,
    }
    status, _ = await call("openai", first)
    assert status == 200
    second = {**first, "messages": chat_history("toolu_01")}
    status, answer = await call("openai", second)
    assert status == 200, answer
    sent = claude.last.body
    # thinking stays on, and the turn opens with the signed block Anthropic issued
    assert sent["thinking"]["type"] == "enabled"
    assert last_assistant(sent)["content"][0] == {
        "type": "thinking",
        "thinking": THOUGHT,
        "signature": SIGNATURE,
    }


async def test_the_mock_refuses_a_tool_turn_that_lost_its_thinking(upstreams):
    # what the gateway must never send: the same turn, thinking on, no thinking block
    claude, _ = upstreams
    import httpx

    body = {
        "model": "claude-sonnet-4-5",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "t1", "name": "get_weather", "input": {}},
                ],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
        ],
    }
    async with httpx.AsyncClient() as client:
        answer = await client.post(
            f"{claude.url}/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
        )  # (the version is required, as by the API)
    assert answer.status_code == 400
    assert "must start with a thinking block" in answer.json()["error"]["message"]


async def test_another_key_never_gets_the_reasoning_back(upstreams):
    claude, _ = upstreams
    claude.queue(claude_tool_turn("toolu_k"), Reply(text="done"))
    first = {
        "model": "claude",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "reasoning_effort": "high",
    }
    assert (await call("openai", first))[0] == 200
    status, _ = await call("openai", {**first, "messages": chat_history("toolu_k")}, OTHER_KEY)
    assert status == 200
    sent = claude.last.body
    assert SIGNATURE not in orjson.dumps(sent).decode()
    assert "thinking" not in sent  # the Anthropic codec turns it off rather than fail


# --- Gemini client -> Anthropic upstream ----------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_gemini_client_on_anthropic_keeps_thinking_across_the_tool_loop(upstreams, stream):
    claude, _ = upstreams
    claude.queue(claude_tool_turn("toolu_g"), Reply(text="18 C."))
    tools = [{"functionDeclarations": [WEATHER["function"]]}]
    config = {"thinkingConfig": {"thinkingBudget": 2048, "includeThoughts": True}}
    first = {
        "contents": [{"role": "user", "parts": [{"text": "Weather in Paris?"}]}],
        "tools": tools,
        "generationConfig": config,
    }
    fields = {"model": "claude", "stream": stream}
    status, _ = await call("gemini", first, path_fields=fields)
    assert status == 200
    second = {
        **first,
        "contents": [
            first["contents"][0],
            {
                "role": "model",
                "parts": [
                    {"text": THOUGHT, "thought": True},
                    {
                        "functionCall": {
                            "id": "toolu_g",
                            "name": "get_weather",
                            "args": {"city": "Paris"},
                        }
                    },
                ],
            },
            {
                "role": "user",
                "parts": [
                    {
                        "functionResponse": {
                            "id": "toolu_g",
                            "name": "get_weather",
                            "response": {"result": "18 C"},
                        }
                    }
                ],
            },
        ],
    }
    status, answer = await call("gemini", second, path_fields=fields)
    assert status == 200, answer
    sent = claude.last.body
    assert sent["thinking"]["type"] == "enabled"
    assert last_assistant(sent)["content"][0]["signature"] == SIGNATURE


# --- Responses client -> Anthropic upstream -------------------------------------------------


async def test_responses_client_on_anthropic_keeps_thinking_without_encrypted_content(upstreams):
    claude, _ = upstreams
    claude.queue(claude_tool_turn("toolu_r"), Reply(text="18 C."))
    tool = {"type": "function", **WEATHER["function"]}
    first = {
        "model": "claude",
        "input": "Weather in Paris?",
        "tools": [tool],
        "reasoning": {"effort": "high"},
        "store": False,
    }
    status, answer = await call("responses", first)
    assert status == 200, answer
    called = [i for i in answer["output"] if i["type"] == "function_call"]
    assert called[0]["call_id"] == "toolu_r"
    # a client that kept the summary but not the encrypted content (it did not ask for
    # include: reasoning.encrypted_content, or dropped it)
    second = {
        **first,
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": THOUGHT}]},
            {
                "type": "function_call",
                "call_id": "toolu_r",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "toolu_r", "output": "18 C"},
        ],
    }
    status, answer = await call("responses", second)
    assert status == 200, answer
    sent = claude.last.body
    assert sent["thinking"]["type"] == "enabled"
    assert last_assistant(sent)["content"][0]["signature"] == SIGNATURE


# --- clients on a Gemini upstream: the signature rides in the call id -----------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_chat_client_on_gemini_hands_back_the_thought_signature(upstreams, stream):
    _, gemini = upstreams
    gemini.queue(GReply(thinking=THOUGHT, calls=[("get_weather", {"city": "Paris"})]))
    gemini.queue(GReply(text="18 C."))
    first = {
        "model": "gem",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "reasoning_effort": "high",
    }
    status, answer = await call("openai", first)
    assert status == 200, answer
    call_id = answer["choices"][0]["message"]["tool_calls"][0]["id"]
    second = {**first, "messages": chat_history(call_id), "stream": stream}
    status, answer = await call("openai", second)
    assert status == 200, answer
    model_turn = gemini.last.body["contents"][1]
    assert model_turn["parts"][0]["thoughtSignature"] in gemini.signatures


async def test_anthropic_client_on_gemini_hands_back_the_thought_signature(upstreams):
    _, gemini = upstreams
    gemini.queue(GReply(thinking=THOUGHT, calls=[("get_weather", {"city": "Paris"})]))
    gemini.queue(GReply(text="18 C."))
    tool = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
    first = {
        "model": "gem",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [tool],
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
    }
    status, answer = await call("anthropic", first)
    assert status == 200, answer
    blocks = answer["content"]
    use = next(b for b in blocks if b["type"] == "tool_use")
    second = {
        **first,
        "messages": [
            first["messages"][0],
            {"role": "assistant", "content": blocks},
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": use["id"], "content": "18 C"}],
            },
        ],
    }
    status, answer = await call("anthropic", second)
    assert status == 200, answer
    assert gemini.last.body["contents"][1]["parts"][0]["thoughtSignature"] in gemini.signatures


@pytest.mark.parametrize("dialect", ["openai", "anthropic"])
@pytest.mark.parametrize("stream", [False, True])
async def test_the_call_id_alone_carries_the_thought_signature(
    upstreams, settings, dialect, stream
):
    """With the ledger off (another instance, an evicted entry: nothing kept), the
    signature still comes back from the tool-call id the client echoed, streamed or not;
    the mock refuses the turn without it."""
    _, gemini = upstreams
    settings.SWITCHYARD_REASONING_LEDGER_ENTRIES = 0
    reasoning_ledger.reset()
    gemini.queue(GReply(thinking=THOUGHT, calls=[("get_weather", {"city": "Paris"})]))
    gemini.queue(GReply(text="18 C."))
    if dialect == "openai":
        first = {
            "model": "gem",
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [WEATHER],
            "reasoning_effort": "high",
            "stream": stream,
        }
    else:
        tool = {"name": "get_weather", "input_schema": WEATHER["function"]["parameters"]}
        first = {
            "model": "gem",
            "max_tokens": 4096,
            "thinking": {"type": "enabled", "budget_tokens": 2048},
            "tools": [tool],
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "stream": stream,
        }
    status, answer = await call(dialect, first)
    assert status == 200, answer
    found = re.search(
        rb"(call_[0-9a-f]{16}-[su]-[A-Za-z0-9_-]+)", answer if stream else orjson.dumps(answer)
    )
    assert found is not None, answer
    call_id = found[1].decode()
    if dialect == "openai":
        second = {**first, "messages": chat_history(call_id)}
    else:
        use = {"type": "tool_use", "id": call_id, "name": "get_weather", "input": {"city": "Paris"}}
        result = {"type": "tool_result", "tool_use_id": call_id, "content": "18 C"}
        second = {
            **first,
            "messages": [
                first["messages"][0],
                {"role": "assistant", "content": [use]},  # the thinking block not kept
                {"role": "user", "content": [result]},
            ],
        }
    status, answer = await call(dialect, second)
    assert status == 200, answer
    assert len(reasoning_ledger.ledger()) == 0
    assert gemini.last.body["contents"][1]["parts"][0]["thoughtSignature"] in gemini.signatures
    # the same turn with an id of another origin is refused by the (strict) mock
    gemini.queue(GReply(text="never"))
    bare = orjson.loads(orjson.dumps(second).replace(call_id.encode(), b"call_foreign"))
    status, _ = await call(dialect, bare)
    assert status >= 400


# --- fallback to another family: nothing it cannot read -------------------------------------


async def test_a_fallback_from_anthropic_to_gemini_drops_the_claude_signature(upstreams):
    claude, gemini = upstreams
    claude.queue(
        claude_tool_turn("toolu_f"),
        Reply(status=500, error={"type": "error", "error": {"type": "api_error", "message": "x"}}),
    )
    gemini.queue(GReply(text="18 C."))
    first = {
        "model": "claude-or-gem",
        "messages": [{"role": "user", "content": "Weather in Paris?"}],
        "tools": [WEATHER],
        "reasoning_effort": "high",
    }
    assert (await call("openai", first))[0] == 200
    status, answer = await call("openai", {**first, "messages": chat_history("toolu_f")})
    assert status == 200, answer
    assert answer["choices"][0]["message"]["content"] == "18 C."
    raw = gemini.last.raw.decode()
    assert SIGNATURE not in raw and THOUGHT not in raw
    assert claude.last.body["thinking"]["type"] == "enabled"  # Anthropic had it restored


@pytest.mark.parametrize("encrypted", ["gAAAAABo-from-openai-itself", "openai-reasoning:gAAAAABo"])
async def test_openai_encrypted_reasoning_never_reaches_a_claude_upstream(upstreams, encrypted):
    # a Responses client whose history came from an OpenAI model, now on Claude
    claude, _ = upstreams
    claude.queue(Reply(text="18 C."))
    body = {
        "model": "claude",
        "tools": [{"type": "function", **WEATHER["function"]}],
        "reasoning": {"effort": "high"},
        "store": False,
        "input": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "type": "reasoning",
                "summary": [{"type": "summary_text", "text": "check"}],
                "encrypted_content": encrypted,
            },
            {
                "type": "function_call",
                "call_id": "call_oa",
                "name": "get_weather",
                "arguments": '{"city": "Paris"}',
            },
            {"type": "function_call_output", "call_id": "call_oa", "output": "18 C"},
        ],
    }
    status, answer = await call("responses", body)
    assert status == 200, answer  # the strict mock refuses a signature it never issued
    assert "gAAAA" not in claude.last.raw.decode()


# --- OpenAI chat client -> OpenAI Responses upstream (encrypted reasoning) ------------------


async def test_openai_chat_client_on_responses_hands_back_the_encrypted_reasoning(upstreams):
    from pathlib import Path

    import httpx

    fixture = Path(__file__).parents[2] / "fixtures" / "openai_responses" / "reasoning_tools.json"
    received: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        received.append(orjson.loads(request.content))
        return httpx.Response(200, content=fixture.read_bytes())

    responses = ProviderEntry(73, "resp-up", "openai_responses", "", "sk-x", {}, "", None)
    deployment = route("o3", "o3", max_attempts=1, provider=responses)
    deployment = replace(
        deployment,
        deployments=(replace(deployment.deployments[0], supports_reasoning=True),),
    )
    registry.install(snapshot(deployment))
    http.use_transport(httpx.MockTransport(handler))
    try:
        first = {
            "model": "o3",
            "messages": [{"role": "user", "content": "Weather in Paris and Tokyo?"}],
            "tools": [WEATHER],
            "reasoning_effort": "high",
        }
        status, answer = await call("openai", first)
        assert status == 200, answer
        message = answer["choices"][0]["message"]
        assert "encrypted" not in orjson.dumps(message).decode()  # a chat client cannot
        history = [
            first["messages"][0],
            {
                "role": "assistant",
                "content": message["content"],
                "tool_calls": message["tool_calls"],
            },
            *[
                {"role": "tool", "tool_call_id": c["id"], "content": "18 C"}
                for c in message["tool_calls"]
            ],
        ]
        status, answer = await call("openai", {**first, "messages": history})
        assert status == 200, answer
    finally:
        http.use_transport(None)
    reasoning = [i for i in received[1]["input"] if i.get("type") == "reasoning"]
    assert [r["encrypted_content"] for r in reasoning] == [
        "gAAAAABor-EnCRyPtEdReAsOnInGbLoB_0123456789abcdefABCDEF-_=="
    ]


# --- OpenAI chat client -> Bedrock Claude ---------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_openai_chat_client_on_bedrock_claude_keeps_thinking(upstreams, stream):
    from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
    from tests.integration.bedrock_upstream import BedrockReply, MockBedrock
    from tests.integration.bedrock_upstream import ToolUse as BedrockToolUse

    bedrock = MockBedrock().start()
    try:
        keys = {
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_region_name": REGION,
        }
        aws = ProviderEntry(74, "aws", "bedrock", bedrock.url, "", {}, "", None)
        r = route("bed", "us.anthropic.claude-sonnet-4-5-v1:0", max_attempts=1, provider=aws)
        dep = replace(
            r.deployments[0], supports_reasoning=True, max_output_tokens=8192, params=keys
        )
        registry.install(snapshot(replace(r, deployments=(dep,))))
        bedrock.queue(
            BedrockReply(
                reasoning=THOUGHT,
                signature=SIGNATURE,
                tool_calls=[BedrockToolUse("tooluse_b1", "get_weather", {"city": "Paris"})],
            ),
            BedrockReply(text="18 C."),
        )
        first = {
            "model": "bed",
            "messages": [{"role": "user", "content": "Weather in Paris?"}],
            "tools": [WEATHER],
            "reasoning_effort": "high",
            "stream": stream,
        }
        status, answer = await call("openai", first)
        assert status == 200, answer
        status, answer = await call("openai", {**first, "messages": chat_history("tooluse_b1")})
        assert status == 200, answer
        sent = bedrock.last.body
    finally:
        bedrock.stop()
    assert sent["additionalModelRequestFields"]["thinking"]["type"] == "enabled"
    opening = last_assistant(sent)["content"][0]
    assert opening["reasoningContent"]["reasoningText"] == {"text": THOUGHT, "signature": SIGNATURE}


# --- a fallback to another family drops the reasoning it cannot verify ----------------------


@pytest.mark.parametrize("dialect", ["anthropic", "openai"])
async def test_a_fallback_from_claude_to_a_non_claude_bedrock_model_drops_claude_thinking(
    upstreams, dialect
):
    """A session that thought on Claude falls back to Nova on Bedrock: Nova refuses
    Claude's signed (or redacted) thinking, so none reaches it; the tool loop goes on."""
    from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
    from tests.integration.bedrock_upstream import BedrockReply, MockBedrock

    claude, _ = upstreams
    bedrock = MockBedrock().start()
    try:
        keys = {
            "aws_access_key_id": ACCESS_KEY,
            "aws_secret_access_key": SECRET_KEY,
            "aws_region_name": REGION,
        }
        aws = ProviderEntry(75, "aws", "bedrock", bedrock.url, "", {}, "", None)
        nova = route("nova", "amazon.nova-pro-v1:0", max_attempts=1, provider=aws)
        nova = replace(nova, deployments=(replace(nova.deployments[0], params=keys),))
        anthropic = ProviderEntry(
            71, "claude-up", "anthropic", claude.url, "sk-ant-x", {}, "", None
        )
        falls = route(
            "claude-or-nova",
            "claude-sonnet-4-5",
            max_attempts=1,
            provider=anthropic,
            fallbacks=["nova"],
        )
        falls = replace(
            falls,
            deployments=(
                replace(falls.deployments[0], supports_reasoning=True, max_output_tokens=8192),
            ),
        )
        registry.install(snapshot(falls, nova))
        claude.queue(
            claude_tool_turn("toolu_n"),
            Reply(
                status=500, error={"type": "error", "error": {"type": "api_error", "message": "x"}}
            ),
        )
        bedrock.queue(BedrockReply(text="18 C."))
        if dialect == "openai":
            first = {
                "model": "claude-or-nova",
                "messages": [{"role": "user", "content": "Weather in Paris?"}],
                "tools": [WEATHER],
                "reasoning_effort": "high",
            }
            assert (await call("openai", first))[0] == 200
            second = {**first, "messages": chat_history("toolu_n")}
        else:
            tool = WEATHER["function"]
            first = {
                "model": "claude-or-nova",
                "max_tokens": 4096,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
                "tools": [{"name": tool["name"], "input_schema": tool["parameters"]}],
                "messages": [{"role": "user", "content": "Weather in Paris?"}],
            }
            status, answer = await call("anthropic", first)
            assert status == 200, answer
            assert answer["content"][0]["signature"] == SIGNATURE
            second = {
                **first,
                "messages": [
                    *first["messages"],
                    {"role": "assistant", "content": answer["content"]},
                    {
                        "role": "user",
                        "content": [
                            {"type": "tool_result", "tool_use_id": "toolu_n", "content": "18 C"}
                        ],
                    },
                ],
            }
        status, answer = await call(dialect, second)
        sent = bedrock.last.raw.decode()
    finally:
        bedrock.stop()
    assert status == 200, answer
    assert "reasoningContent" not in sent and SIGNATURE not in sent
    assert "toolu_n" in sent  # the tool loop itself went on


# --- only a request an attempt may render asks for reasoning ------------------------------


@pytest.fixture
def shared_asks(monkeypatch) -> list[list[list[str]]]:
    """The turns (their call ids) each restore asks the shared store for: a counter
    service that has nothing, as a worker of ``serve`` has beside its supervisor."""
    asked: list[list[list[str]]] = []

    class Service:
        async def ask(self, operation: str, scope: str, turns: Any, *rest: Any) -> Any:
            if operation == "ledger_get":
                asked.append(turns)
                return ["ok", [None] * len(turns)]
            return ["ok"]

    monkeypatch.setattr(reasoning_ledger, "_counter_service", lambda: Service())
    return asked


def chat_loop(model: str) -> dict[str, Any]:
    return {"model": model, "messages": chat_history("call_1"), "tools": [WEATHER]}


async def test_a_passed_through_tool_loop_asks_the_shared_store_nothing(upstreams, shared_asks):
    """An OpenAI chat client on an OpenAI chat upstream: its body goes upstream as it
    came, so reasoning restored into the parsed request would never be sent; a worker
    asked the supervisor for the newest turn's on every request of an agent's loop."""
    claude, _ = upstreams
    claude.queue(Reply(text="It is 18 C and sunny."), Reply(text="Still 18 C."))
    for _ in range(2):
        status, answer = await call("openai", chat_loop("chat"))
        assert status == 200, answer
    assert shared_asks == []
    assert claude.last.body["messages"] == chat_history("call_1")  # as the client sent it


def anthropic_loop(model: str) -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 256,
        "tools": [
            {
                "name": "get_weather",
                "description": "Weather in a city",
                "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
            }
        ],
        "messages": [
            {"role": "user", "content": "Weather in Paris?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "18 C"}],
            },
        ],
    }


@pytest.mark.parametrize(
    ("dialect", "route_name", "asked"),
    [
        # a route that may fall back to a translating one: asked, for the fallback
        ("openai", "chat-or-claude", [[["call_1"]]]),
        # translated for an upstream that takes signed thinking back: asked
        ("openai", "claude", [[["call_1"]]]),
        # Claude Code's loop on an OpenAI chat model: translated, but a chat upstream is
        # sent earlier turns' reasoning only when it wants it echoed
        ("anthropic", "chat", []),
        ("anthropic", "chat-echo", [[["toolu_9"]]]),
        # Gemini is sent no thinking back: its thought signatures ride in the call ids
        ("openai", "gem", []),
    ],
)
async def test_the_newest_turn_is_asked_for_only_where_an_upstream_reads_it(
    upstreams, shared_asks, dialect, route_name, asked
):
    claude, gemini = upstreams
    claude.queue(Reply(text="It is 18 C."))
    gemini.queue(GReply(text="It is 18 C."))
    loop = chat_loop if dialect == "openai" else anthropic_loop
    status, answer = await call(dialect, loop(route_name))
    assert status == 200, answer
    assert shared_asks == asked


CHAT_UP = ProviderEntry(74, "chat-up", "openai", "http://127.0.0.1:9", "sk-x", {}, "", None)


def decision(guard: Any = None, route_mcp: tuple[str, ...] = (), request_mcp: bool = False):
    """``_reads_past_reasoning`` for an OpenAI chat client on an OpenAI chat route whose
    deployment takes earlier reasoning back when the request is rendered."""
    from gateway.codecs import CODECS
    from gateway.core import jobs

    caller = service.Caller(key=MASTER)
    call = type("Call", (), {"guard": guard, "codec": CODECS["openai"], "caller": caller})()
    # a reasoning model the catalog does not know: rendered, its reasoning is echoed back
    chat = route("chat-u", "house-reasoner-1", provider=CHAT_UP)
    deployments = tuple(replace(d, supports_reasoning=True) for d in chat.deployments)
    chat = replace(chat, deployments=deployments, mcp_servers=route_mcp)
    request = type("Request", (), {"mcp_servers": ["docs"] if request_mcp else []})()
    return jobs._reads_past_reasoning(call, chat, request)  # type: ignore[arg-type]


def test_a_body_rendered_for_its_own_codec_counts_as_read():
    """A guardrail may rewrite the request, and hosted MCP tools render every turn: the
    request is then rendered even for an upstream of the caller's own codec."""
    assert decision() is False  # passed through: nothing restored would be sent
    assert decision(guard=object()) is True
    assert decision(route_mcp=("docs",)) is True
    assert decision(request_mcp=True) is True


def test_a_kind_whose_module_does_not_load_counts_as_read(monkeypatch):
    """Whether to restore is decided before any attempt: an adapter that cannot be
    imported is the attempt's error to report, and restoring costs it nothing."""
    from gateway.core import jobs

    def broken(kind: str) -> Any:
        raise ImportError(f"no module for {kind}")

    monkeypatch.setattr(jobs.kinds, "adapter_class", broken)
    assert decision() is True
