"""The reasoning ledger through a real ``serve --workers 2`` sharing it in Redis (a database
of this run's own) or, without Redis, through the supervisor's counter service, driven by
the official OpenAI SDK: a chat client cannot carry Anthropic's signed thinking, yet
every tool loop's second turn reaches the (strict) mock Anthropic with thinking on and
its signed block first, whichever worker serves it."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from contextlib import ExitStack

import pytest

from tests.live import free_port, running_gateway
from tests.own_redis import own_redis_database

from .conftest import Stack, setup_code
from .mock_upstream import MockUpstream, Reply, ToolUse

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


@pytest.fixture(scope="module", params=["redis", "counter service"])
def shared_stack(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Stack]:
    with ExitStack() as stack:
        mock = MockUpstream().start()
        stack.callback(mock.stop)
        dead = f"http://127.0.0.1:{free_port()}"
        redis = request.param == "redis"
        env = {"REDIS_URL": stack.enter_context(own_redis_database())} if redis else {}
        gw = stack.enter_context(
            running_gateway(
                tmp_path_factory.mktemp("gateway"),
                env=env,
                setup=[["shell", "-c", setup_code(mock.url, dead)]],
                workers=2,
            )
        )
        yield Stack(gw=gw, mock=mock)


def test_every_second_turn_gets_its_signed_thinking_back(shared_stack: Stack) -> None:
    mock = shared_stack.mock
    mock.reset()
    mock.strict_signatures = True
    loops = 8
    for n in range(loops):
        call_id, signature = f"toolu_{secrets.token_hex(6)}", f"sig-live-{n}-{secrets.token_hex(4)}"
        thought = f"Loop {n}: I need the weather tool."
        mock.queue(
            Reply(
                reasoning=thought,
                signature=signature,
                tool_calls=[ToolUse(call_id, "get_weather", '{"city": "Paris"}')],
            ),
            Reply(text="18 C."),
        )
        messages = [{"role": "user", "content": "Weather in Paris?"}]
        # a fresh connection per turn: the kernel spreads them over the two workers
        first = shared_stack.openai().chat.completions.create(
            model="mock-claude", messages=messages, tools=TOOLS, reasoning_effort="high"
        )
        said = first.choices[0].message
        assert said.tool_calls[0].id == call_id
        messages += [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": call_id, "content": "18 C"},
        ]
        if n % 2:  # half of the second turns streamed
            stream = shared_stack.openai().chat.completions.create(
                model="mock-claude",
                messages=messages,
                tools=TOOLS,
                reasoning_effort="high",
                stream=True,
            )
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        else:
            second = shared_stack.openai().chat.completions.create(
                model="mock-claude", messages=messages, tools=TOOLS, reasoning_effort="high"
            )
            text = second.choices[0].message.content
        assert text == "18 C."
        sent = json.loads(mock.last.raw)
        assert sent["thinking"]["type"] == "enabled", f"loop {n} lost its thinking"
        assistant = [m for m in sent["messages"] if m["role"] == "assistant"][-1]
        assert assistant["content"][0] == {
            "type": "thinking",
            "thinking": thought,
            "signature": signature,
        }
    shared_stack.assert_clean_log()
