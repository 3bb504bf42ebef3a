"""The official ``openai`` (Chat Completions) and ``anthropic`` SDKs against a live
gateway whose routes point at a Gemini Interactions API upstream (a mock on 127.0.0.1
that refuses camelCase, nested tools, unpaired calls and calls replayed without their
thought signature). Every test asserts what the SDK got back and what reached the
upstream: stateless (``store: false``, the whole conversation each turn), signatures
carried across turns in the tool-call ids.

Routes (``max_attempts=1``): ``gi`` (reasoning deployment), ``gi-plain`` (none).
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import anthropic
import openai
import pytest

from tests.live import MASTER_KEY, running_gateway

from .mock_gemini_interactions import Call, InteractionReply, MockInteractionsUpstream, sign

SECRET = "AIza-mock-interactions-key-0123456789"
MODEL = "gemini-3.5-flash"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
OPENAI_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": WEATHER}}
ANTHROPIC_TOOL = {"name": "get_weather", "input_schema": WEATHER}
TWO_CALLS = [
    Call("fc_p1", "get_weather", {"city": "Paris"}),
    Call("fc_l2", "get_weather", {"city": "Lima"}),
]


def setup_code(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

p = Provider(name="mock-interactions", kind="gemini_interactions", base_url="{mock_url}")
p.set_secret("{SECRET}")
p.save()
for name, reasoning in (("gi", True), ("gi-plain", False)):
    r = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(
        route=r, provider=p, model="{MODEL}", max_output_tokens=8192,
        context_window=1000000, supports_reasoning=reasoning,
    )
"""


class Stack:
    def __init__(self, url: str, mock: MockInteractionsUpstream) -> None:
        self.url, self.mock = url, mock

    def openai(self) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "/v1", api_key=MASTER_KEY, max_retries=0)

    def anthropic(self) -> anthropic.Anthropic:
        return anthropic.Anthropic(base_url=self.url, api_key=MASTER_KEY, max_retries=0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    mock = MockInteractionsUpstream(SECRET).start()
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            seed=False,
            setup=[["shell", "-c", setup_code(mock.url)]],
        ) as gw:
            yield Stack(gw.url, mock)
            assert "Traceback" not in gw.log(), gw.log()[-4000:]
    finally:
        mock.stop()


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockInteractionsUpstream]:
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


def assert_stateless_call(mock: MockInteractionsUpstream, stream: bool) -> dict:
    seen = mock.last
    assert seen.path == "/v1beta/interactions"
    assert seen.headers["x-goog-api-key"] == SECRET
    assert seen.headers["api-revision"] == "2026-05-20"
    assert MASTER_KEY not in json.dumps(seen.headers) + json.dumps(seen.body)
    body = seen.body
    assert body["model"] == MODEL and body["store"] is False
    assert "previous_interaction_id" not in body
    assert body.get("stream", False) is stream
    return body


# --- plain and streamed -------------------------------------------------------------------


def test_openai_chat_plain_with_usage(stack: Stack, mock: MockInteractionsUpstream) -> None:
    mock.queue(
        InteractionReply(text="Hi there!", input_tokens=30, cached_tokens=10, output_tokens=4)
    )
    completion = stack.openai().chat.completions.create(
        model="gi-plain",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Say hello"},
        ],
        max_tokens=100,
        temperature=0.2,
    )
    assert completion.choices[0].message.content == "Hi there!"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.prompt_tokens == 30 and completion.usage.completion_tokens == 4
    assert completion.usage.prompt_tokens_details.cached_tokens == 10
    body = assert_stateless_call(mock, stream=False)
    assert body["system_instruction"] == "Be brief."
    assert body["input"] == [
        {"type": "user_input", "content": [{"type": "text", "text": "Say hello"}]}
    ]
    assert body["generation_config"] == {"max_output_tokens": 100, "temperature": 0.2}


def test_openai_chat_streamed_with_usage(stack: Stack, mock: MockInteractionsUpstream) -> None:
    mock.queue(InteractionReply(text="Streaming works fine.", output_tokens=5, piece=3))
    chunks = list(
        stack.openai().chat.completions.create(
            model="gi-plain",
            messages=[{"role": "user", "content": "Stream please"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Streaming works fine."
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.prompt_tokens == 21 and chunks[-1].usage.completion_tokens == 5
    assert_stateless_call(mock, stream=True)


def test_anthropic_plain_and_streamed(stack: Stack, mock: MockInteractionsUpstream) -> None:
    mock.queue(
        InteractionReply(text="Plain."), InteractionReply(text="Streamed text.", output_tokens=3)
    )
    client = stack.anthropic()
    message = client.messages.create(
        model="gi-plain", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    )
    assert message.content[0].text == "Plain." and message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 21 and message.usage.output_tokens == 9
    with client.messages.stream(
        model="gi-plain", max_tokens=50, messages=[{"role": "user", "content": "Hi"}]
    ) as stream:
        final = stream.get_final_message()
    assert final.content[0].text == "Streamed text." and final.usage.output_tokens == 3
    assert_stateless_call(mock, stream=True)


# --- tool loops across turns, signatures carried -------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_chat_tool_loop_carries_the_signature(
    stack: Stack, mock: MockInteractionsUpstream, stream: bool
) -> None:
    mock.queue(
        InteractionReply(text="", thought="Two cities.", calls=TWO_CALLS, thought_tokens=7),
        InteractionReply(text="Paris 18C, Lima 20C."),
    )
    client = stack.openai()
    messages: list[dict] = [{"role": "user", "content": "Weather in Paris and Lima?"}]

    def ask() -> tuple[str | None, list, str]:
        body = dict(model="gi", messages=messages, tools=[OPENAI_TOOL], reasoning_effort="low")
        if not stream:
            choice = client.chat.completions.create(**body).choices[0]
            calls = [c.model_dump() for c in choice.message.tool_calls or []]
            return choice.message.content, calls, choice.finish_reason
        text, calls, finish = "", {}, ""
        for chunk in client.chat.completions.create(**body, stream=True):
            if not chunk.choices:
                continue
            delta = chunk.choices[0].delta
            text += delta.content or ""
            for call in delta.tool_calls or []:
                slot = calls.setdefault(
                    call.index,
                    {"id": "", "type": "function", "function": {"name": "", "arguments": ""}},
                )
                slot["id"] = call.id or slot["id"]
                if call.function:
                    slot["function"]["name"] += call.function.name or ""
                    slot["function"]["arguments"] += call.function.arguments or ""
            finish = chunk.choices[0].finish_reason or finish
        return text or None, list(calls.values()), finish

    _text, calls, finish = ask()
    assert finish == "tool_calls" and len(calls) == 2
    assert [json.loads(c["function"]["arguments"]) for c in calls] == [
        {"city": "Paris"},
        {"city": "Lima"},
    ]
    first_body = assert_stateless_call(mock, stream)
    assert first_body["generation_config"]["thinking_level"] == "low"
    assert first_body["tools"] == [
        {"type": "function", "name": "get_weather", "parameters": WEATHER}
    ]

    messages.append({"role": "assistant", "content": None, "tool_calls": calls})
    messages += [
        {"role": "tool", "tool_call_id": calls[0]["id"], "content": "18C"},
        {"role": "tool", "tool_call_id": calls[1]["id"], "content": "20C"},
    ]
    text, _calls, finish = ask()  # the mock refuses a call replayed without its signature
    assert text == "Paris 18C, Lima 20C." and finish == "stop"
    steps = assert_stateless_call(mock, stream)["input"]
    assert [s["type"] for s in steps] == [
        "user_input", "thought", "function_call", "function_call", "function_result", "function_result"
    ]  # fmt: skip
    assert steps[1]["signature"] == sign("fc_p1")
    assert [s["id"] for s in steps[2:4]] == ["fc_p1", "fc_l2"]
    assert [s["call_id"] for s in steps[4:]] == ["fc_p1", "fc_l2"]


def test_anthropic_streamed_tool_loop_with_thinking(
    stack: Stack, mock: MockInteractionsUpstream
) -> None:
    mock.queue(
        InteractionReply(
            text="Let me check.", thought="Need the tool.", calls=TWO_CALLS[:1], thought_tokens=5
        ),
        InteractionReply(text="18C in Paris.", output_tokens=6),
    )
    client = stack.anthropic()
    messages: list = [{"role": "user", "content": "Weather in Paris?"}]
    common = dict(
        model="gi",
        max_tokens=2048,
        tools=[ANTHROPIC_TOOL],
        thinking={"type": "enabled", "budget_tokens": 1024},
    )
    with client.messages.stream(messages=messages, **common) as s:
        first = s.get_final_message()
    kinds = [b.type for b in first.content]
    assert kinds == ["thinking", "text", "tool_use"] and first.stop_reason == "tool_use"
    assert first.content[0].thinking == "Need the tool."
    tool_use = first.content[2]
    assert tool_use.input == {"city": "Paris"}
    assert first.usage.output_tokens == 9 + 5  # thoughts are billed as output
    messages += [
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": tool_use.id, "content": "18C"}],
        },
    ]
    with client.messages.stream(messages=messages, **common) as s:
        second = s.get_final_message()
    assert second.content[-1].text == "18C in Paris." and second.stop_reason == "end_turn"
    steps = assert_stateless_call(mock, stream=True)["input"]
    assert [s["type"] for s in steps] == [
        "user_input", "model_output", "thought", "function_call", "function_result"
    ]  # fmt: skip
    assert steps[2] == {"type": "thought", "signature": sign("fc_p1")}


def test_a_call_replayed_without_its_signature_is_refused(
    stack: Stack, mock: MockInteractionsUpstream
) -> None:
    """What the mock enforces reaches the client: a history whose call id is not one the
    gateway made (so it carries no signature) gets the upstream's 400."""
    with pytest.raises(openai.BadRequestError) as caught:
        stack.openai().chat.completions.create(
            model="gi",
            tools=[OPENAI_TOOL],
            messages=[
                {"role": "user", "content": "Weather?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_foreign",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_foreign", "content": "25C"},
            ],
        )
    assert "thought signature" in str(caught.value)
