"""The compatibility tier's gateway: one gateway on 127.0.0.1 with a route per upstream
kind, each to the repository's mock of that upstream (``tests/integration``), and mocks
that answer from what the request asks, so any client's flow can run unscripted:

- a request with tools whose last user turn mentions the weather, and no tool result
  yet: a call of ``get_weather`` with ``{"city": "Paris"}``;
- a request carrying a tool result: ``TOOL-OK`` and the result's text (``sunny-22``, what
  every flow's tool answers), so the flow sees the result went upstream;
- a request carrying an image: ``IMAGE-SEEN``;
- a request asking for reasoning: a thought (``COMPAT-THOUGHT``) before ``COMPAT-OK``;
- anything else: ``COMPAT-OK``.

Routes: ``compat-openai`` (Chat Completions), ``compat-anthropic`` (Messages),
``compat-responses`` (the Responses API) and ``compat-gemini`` (generateContent), each
one deployment with reasoning and vision, ``max_attempts=1``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.mock_gemini import GReply, MockGemini
from tests.integration.mock_responses_upstream import (
    FunctionCall,
    MockResponsesUpstream,
    ResponsesReply,
)
from tests.integration.mock_upstream import MockUpstream, Reply, Seen, ToolUse
from tests.live import MASTER_KEY, Gateway, running_gateway

UPSTREAMS = ("openai", "anthropic", "responses", "gemini")
TOOL_RESULT = "sunny-22"
THOUGHT = "COMPAT-THOUGHT"
OK = "COMPAT-OK"
GEMINI_KEY = "AIza-compat-mock-key-0123456789"

# How each upstream's body marks a tool result, an image and a reasoning request.
_TOOL_RESULT_MARKS = (
    '"role": "tool"',
    '"tool_result"',
    '"function_call_output"',
    "functionResponse",
)
_IMAGE_MARKS = ('"image_url"', '"type": "image"', '"input_image"', '"inlineData"', '"fileData"')


@dataclass(frozen=True)
class Decision:
    text: str = OK
    thought: str = ""
    call: bool = False


def _last_user_text(body: dict[str, Any]) -> str:
    turns = body.get("messages") or body.get("contents") or body.get("input") or []
    if isinstance(turns, str):
        return turns
    for turn in reversed(turns):
        if isinstance(turn, dict) and turn.get("role") in ("user", None):
            return json.dumps(turn)
    return ""


def decide(body: dict[str, Any]) -> Decision:
    """What the mocks answer ``body`` (any of the four upstream formats)."""
    raw = json.dumps(body)
    config = body.get("generationConfig") or {}
    wants_thought = bool(
        body.get("reasoning_effort")
        or (body.get("thinking") or {}).get("type") in ("enabled", "adaptive")
        or (body.get("reasoning") or {}).get("effort")
        or "thinkingConfig" in config
    )
    thought = THOUGHT if wants_thought else ""
    if any(mark in raw for mark in _TOOL_RESULT_MARKS) and TOOL_RESULT in raw:
        return Decision(text=f"TOOL-OK {TOOL_RESULT}", thought=thought)
    if body.get("tools") and "weather" in _last_user_text(body).lower():
        return Decision(text="", thought=thought, call=True)
    if any(mark in raw for mark in _IMAGE_MARKS):
        return Decision(text="IMAGE-SEEN", thought=thought)
    return Decision(thought=thought)


def _chat_reply(seen: Seen) -> Reply:
    d = decide(seen.body or {})
    calls = [ToolUse("call_compat_1", "get_weather", '{"city": "Paris"}')] if d.call else []
    return Reply(text=d.text, reasoning=d.thought, tool_calls=calls)


class _Answering:
    """Stands in for a mock's reply queue: never empty, each reply made from the request
    the mock received last (``seen[-1]``); queued replies still go first."""

    def __init__(self, mock: Any, make: Any) -> None:
        self.mock, self.make = mock, make
        self.queued: list[Any] = []

    def __bool__(self) -> bool:
        return True

    def __len__(self) -> int:
        return 1

    def popleft(self) -> Any:
        if self.queued:
            return self.queued.pop(0)
        return self.make(self.mock.seen[-1].body or {})

    def extend(self, replies: Any) -> None:
        self.queued.extend(replies)

    def clear(self) -> None:
        self.queued.clear()


def _responses_reply(body: dict[str, Any]) -> ResponsesReply:
    d = decide(body)
    calls = [FunctionCall("call_compat_1", "get_weather", '{"city": "Paris"}')] if d.call else []
    return ResponsesReply(text=d.text, reasoning=d.thought, calls=calls)


def _gemini_reply(body: dict[str, Any]) -> GReply:
    d = decide(body)
    calls = [("get_weather", {"city": "Paris"})] if d.call else []
    return GReply(text=d.text, thinking=d.thought, calls=calls)


def setup_code(chat_url: str, responses_url: str, gemini_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

def provider(name, kind, base_url, secret):
    p = Provider(name=name, kind=kind, base_url=base_url)
    p.set_secret(secret)
    p.save()
    return p

def route(name, provider, model):
    r = Route.objects.create(name=name, max_attempts=1)
    Deployment.objects.create(
        route=r, provider=provider, model=model, max_output_tokens=8192,
        context_window=200000, supports_reasoning=True, supports_vision=True,
    )

route("compat-openai", provider("c-openai", "openai", "{chat_url}/v1", "sk-c-openai"), "up-gpt")
route("compat-anthropic", provider("c-anthropic", "anthropic", "{chat_url}", "sk-ant-c"), "up-claude")
route("compat-responses",
      provider("c-responses", "openai_responses", "{responses_url}/v1", "sk-c-resp"), "up-resp")
route("compat-gemini", provider("c-gemini", "gemini", "{gemini_url}", "{GEMINI_KEY}"),
      "gemini-2.5-pro")
"""


@dataclass
class CompatStack:
    gw: Gateway
    chat: MockUpstream
    responses: MockResponsesUpstream
    gemini: MockGemini
    key: str = MASTER_KEY

    @property
    def url(self) -> str:
        return self.gw.url

    @staticmethod
    def route(upstream: str) -> str:
        return f"compat-{upstream}"


@contextmanager
def compat_stack(data_dir: Path) -> Iterator[CompatStack]:
    """The mocks and a gateway routed to them, until the block ends."""
    with ExitStack() as stack:
        chat = MockUpstream().start()
        stack.callback(chat.stop)
        chat.default = _chat_reply
        responses = MockResponsesUpstream().start()
        stack.callback(responses.stop)
        responses.replies = _Answering(responses, _responses_reply)  # type: ignore[assignment]
        gemini = MockGemini(api_key=GEMINI_KEY).start()
        stack.callback(gemini.stop)
        gemini.replies = _Answering(gemini, _gemini_reply)  # type: ignore[assignment]
        code = setup_code(chat.url, responses.url, gemini.url)
        gw = stack.enter_context(
            running_gateway(data_dir, seed=False, setup=[["shell", "-c", code]])
        )
        yield CompatStack(gw=gw, chat=chat, responses=responses, gemini=gemini)
