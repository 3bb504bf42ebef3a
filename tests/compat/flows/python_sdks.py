"""Real flows of the Python SDKs against a gateway, run by ``tests.compat.matrix`` with
whichever interpreter holds the SDK version under test (the project's venv for the
pinned set, an isolated venv for the newest): it imports only the SDK, never the
project.

    python python_sdks.py CLIENT BASE_URL KEY ROUTE [ROUTE ...]

prints, for each route in turn, one JSON line ``{feature: "pass" | "n.a." | "fail: why"}``
with the SDK's version under ``"version"`` (one process for every route: the SDK is
imported once). Features: plain, stream, tools (a whole tool loop: the
model calls ``get_weather``, the flow answers ``sunny-22``, the model's answer quotes
it), thinking (a reasoning request whose thought comes back), image (a PNG sent
inline). What the mocks answer is in ``tests/compat/stack.py``.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import traceback
from collections.abc import Callable
from importlib.metadata import version
from typing import Any

OK, THOUGHT, TOOL = "COMPAT-OK", "COMPAT-THOUGHT", "sunny-22"
WEATHER = "What is the weather in Paris? Use the tool."
# a 1x1 PNG
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)
PNG64 = base64.b64encode(PNG).decode()
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
NA = "n.a."


def expect(condition: bool, what: Any) -> None:
    if not condition:
        raise AssertionError(repr(what)[:300])


# --- openai (Chat Completions and Responses) ---------------------------------------------


def openai_chat(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from openai import OpenAI

    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    user = [{"role": "user", "content": "Say hi"}]
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": SCHEMA}}

    def plain() -> None:
        answer = client.chat.completions.create(model=route, messages=user)
        expect(answer.choices[0].message.content == OK, answer)

    def stream() -> None:
        chunks = client.chat.completions.create(model=route, messages=user, stream=True)
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        expect(text == OK, text)

    def tools() -> None:
        messages: list[Any] = [{"role": "user", "content": WEATHER}]
        first = client.chat.completions.create(model=route, messages=messages, tools=[tool])
        calls = first.choices[0].message.tool_calls or []
        expect(len(calls) == 1 and calls[0].function.name == "get_weather", first)
        messages.append(first.choices[0].message.model_dump(exclude_none=True))
        messages.append({"role": "tool", "tool_call_id": calls[0].id, "content": TOOL})
        second = client.chat.completions.create(model=route, messages=messages, tools=[tool])
        expect(TOOL in (second.choices[0].message.content or ""), second)

    def thinking() -> None:
        answer = client.chat.completions.create(model=route, messages=user, reasoning_effort="low")
        message = answer.choices[0].message
        extra = message.model_extra or {}
        thought = extra.get("reasoning_content") or extra.get("reasoning") or ""
        expect(message.content == OK and THOUGHT in str(thought), message)

    def image() -> None:
        content = [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
        ]
        answer = client.chat.completions.create(
            model=route, messages=[{"role": "user", "content": content}]
        )
        expect(answer.choices[0].message.content == "IMAGE-SEEN", answer)

    return {"plain": plain, "stream": stream, "tools": tools, "thinking": thinking, "image": image}


def openai_responses(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from openai import OpenAI

    client = OpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
    tool = {"type": "function", "name": "get_weather", "parameters": SCHEMA}

    def plain() -> None:
        answer = client.responses.create(model=route, input="Say hi")
        expect(answer.output_text == OK, answer)

    def stream() -> None:
        text = ""
        with client.responses.stream(model=route, input="Say hi") as events:
            for event in events:
                if event.type == "response.output_text.delta":
                    text += event.delta
        expect(text == OK, text)

    def tools() -> None:
        first = client.responses.create(model=route, input=WEATHER, tools=[tool])  # type: ignore[list-item]
        calls = [i for i in first.output if i.type == "function_call"]
        expect(len(calls) == 1 and calls[0].name == "get_weather", first)
        follow = [
            *[i.model_dump(exclude_none=True) for i in first.output],
            {"type": "function_call_output", "call_id": calls[0].call_id, "output": TOOL},
        ]
        second = client.responses.create(
            model=route,
            input=[{"role": "user", "content": WEATHER}, *follow],  # type: ignore[list-item]
            tools=[tool],  # type: ignore[list-item]
        )
        expect(TOOL in second.output_text, second)

    def thinking() -> None:
        answer = client.responses.create(
            model=route, input="Say hi", reasoning={"effort": "low", "summary": "auto"}
        )
        summaries = [
            s.text for i in answer.output if i.type == "reasoning" for s in (i.summary or [])
        ]
        expect(answer.output_text == OK and THOUGHT in "".join(summaries), answer)

    def image() -> None:
        content = [
            {"type": "input_text", "text": "What is this?"},
            {"type": "input_image", "image_url": f"data:image/png;base64,{PNG64}"},
        ]
        answer = client.responses.create(
            model=route,
            input=[{"role": "user", "content": content}],  # type: ignore[list-item]
        )
        expect(answer.output_text == "IMAGE-SEEN", answer)

    return {"plain": plain, "stream": stream, "tools": tools, "thinking": thinking, "image": image}


# --- anthropic -------------------------------------------------------------------------


def anthropic(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from anthropic import Anthropic

    client = Anthropic(base_url=base, api_key=key, max_retries=0)
    user = [{"role": "user", "content": "Say hi"}]
    tool = {"name": "get_weather", "input_schema": SCHEMA}

    def text_of(message: Any) -> str:
        return "".join(b.text for b in message.content if b.type == "text")

    def plain() -> None:
        answer = client.messages.create(model=route, max_tokens=256, messages=user)  # type: ignore[arg-type]
        expect(text_of(answer) == OK, answer)

    def stream() -> None:
        with client.messages.stream(model=route, max_tokens=256, messages=user) as events:  # type: ignore[arg-type]
            text = "".join(events.text_stream)
        expect(text == OK, text)

    def tools() -> None:
        messages: list[Any] = [{"role": "user", "content": WEATHER}]
        first = client.messages.create(
            model=route,
            max_tokens=256,
            messages=messages,
            tools=[tool],  # type: ignore[list-item]
        )
        calls = [b for b in first.content if b.type == "tool_use"]
        expect(len(calls) == 1 and calls[0].name == "get_weather", first)
        messages.append({"role": "assistant", "content": [b.model_dump() for b in first.content]})
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": calls[0].id, "content": TOOL}],
            }
        )
        second = client.messages.create(
            model=route,
            max_tokens=256,
            messages=messages,
            tools=[tool],  # type: ignore[list-item]
        )
        expect(TOOL in text_of(second), second)

    def thinking() -> None:
        answer = client.messages.create(
            model=route,
            max_tokens=4096,
            messages=user,  # type: ignore[arg-type]
            thinking={"type": "enabled", "budget_tokens": 1024},
        )
        thoughts = [b.thinking for b in answer.content if b.type == "thinking"]
        expect(text_of(answer) == OK and THOUGHT in "".join(thoughts), answer)

    def image() -> None:
        content = [
            {"type": "text", "text": "What is this?"},
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/png", "data": PNG64},
            },
        ]
        answer = client.messages.create(
            model=route,
            max_tokens=256,
            messages=[{"role": "user", "content": content}],  # type: ignore[list-item]
        )
        expect(text_of(answer) == "IMAGE-SEEN", answer)

    return {"plain": plain, "stream": stream, "tools": tools, "thinking": thinking, "image": image}


# --- google-genai ----------------------------------------------------------------------


def google_genai(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from google import genai
    from google.genai import types

    client = genai.Client(api_key=key, http_options=types.HttpOptions(base_url=base))

    def get_weather(city: str) -> str:
        """The weather in a city."""
        return TOOL

    def plain() -> None:
        answer = client.models.generate_content(model=route, contents="Say hi")
        expect(answer.text == OK, answer)

    def stream() -> None:
        text = "".join(
            c.text or ""
            for c in client.models.generate_content_stream(model=route, contents="Say hi")
        )
        expect(text == OK, text)

    def tools() -> None:
        # the SDK's automatic function calling: it runs get_weather and sends the result
        config = types.GenerateContentConfig(tools=[get_weather])
        answer = client.models.generate_content(model=route, contents=WEATHER, config=config)
        expect(TOOL in (answer.text or ""), answer)

    def thinking() -> None:
        config = types.GenerateContentConfig(
            thinking_config=types.ThinkingConfig(thinking_budget=1024, include_thoughts=True)
        )
        answer = client.models.generate_content(model=route, contents="Say hi", config=config)
        parts = answer.candidates[0].content.parts  # type: ignore[index,union-attr]
        thoughts = "".join(p.text or "" for p in parts if p.thought)  # type: ignore[union-attr]
        expect(answer.text == OK and THOUGHT in thoughts, answer)

    def image() -> None:
        contents = [types.Part.from_bytes(data=PNG, mime_type="image/png"), "What is this?"]
        answer = client.models.generate_content(model=route, contents=contents)
        expect(answer.text == "IMAGE-SEEN", answer)

    return {"plain": plain, "stream": stream, "tools": tools, "thinking": thinking, "image": image}


# --- openai-agents ---------------------------------------------------------------------


def openai_agents(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from agents import (
        Agent,
        OpenAIChatCompletionsModel,
        Runner,
        function_tool,
        set_tracing_disabled,
    )
    from openai import AsyncOpenAI

    set_tracing_disabled(True)

    @function_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return TOOL

    def agent(tools: list[Any]) -> Any:
        client = AsyncOpenAI(base_url=base + "/v1", api_key=key, max_retries=0)
        model = OpenAIChatCompletionsModel(model=route, openai_client=client)
        return Agent(name="compat", instructions="Be brief.", model=model, tools=tools)

    def plain() -> None:
        result = Runner.run_sync(agent([]), "Say hi")
        expect(result.final_output == OK, result.final_output)

    def stream() -> None:
        async def run() -> str:
            result = Runner.run_streamed(agent([]), "Say hi")
            async for _ in result.stream_events():
                pass
            return str(result.final_output)

        text = asyncio.run(run())
        expect(text == OK, text)

    def tools() -> None:
        result = Runner.run_sync(agent([get_weather]), WEATHER)
        expect(TOOL in str(result.final_output), result.final_output)

    return {"plain": plain, "stream": stream, "tools": tools, "thinking": _na, "image": _na}


# --- LangChain -------------------------------------------------------------------------


def _langchain(model: Any) -> dict[str, Callable[[], None]]:
    from langchain_core.messages import HumanMessage, ToolMessage
    from langchain_core.tools import tool as as_tool

    @as_tool
    def get_weather(city: str) -> str:
        """The weather in a city."""
        return TOOL

    def text(message: Any) -> str:
        content = message.content
        if isinstance(content, str):
            return content
        return "".join(b.get("text", "") for b in content if isinstance(b, dict))

    def plain() -> None:
        answer = model.invoke("Say hi")
        expect(text(answer) == OK, answer)

    def stream() -> None:
        streamed = "".join(text(c) for c in model.stream("Say hi"))
        expect(streamed == OK, streamed)

    def tools() -> None:
        bound = model.bind_tools([get_weather])
        messages: list[Any] = [HumanMessage(WEATHER)]
        first = bound.invoke(messages)
        expect(len(first.tool_calls) == 1 and first.tool_calls[0]["name"] == "get_weather", first)
        messages += [first, ToolMessage(TOOL, tool_call_id=first.tool_calls[0]["id"])]
        expect(TOOL in text(bound.invoke(messages)), messages)

    def image() -> None:
        message = HumanMessage(
            content=[
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG64}"}},
            ]
        )
        expect(text(model.invoke([message])) == "IMAGE-SEEN", message)

    return {"plain": plain, "stream": stream, "tools": tools, "thinking": _na, "image": image}


def langchain_openai(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from langchain_openai import ChatOpenAI

    return _langchain(ChatOpenAI(model=route, base_url=base + "/v1", api_key=key, max_retries=0))  # type: ignore[arg-type]


def langchain_anthropic(base: str, key: str, route: str) -> dict[str, Callable[[], None]]:
    from langchain_anthropic import ChatAnthropic

    return _langchain(
        ChatAnthropic(model=route, base_url=base, api_key=key, max_retries=0, max_tokens=256)  # type: ignore[call-arg,arg-type]
    )


def _na() -> None:
    raise NotImplementedError


# client name -> (the distribution whose version is reported, its flows)
CLIENTS: dict[str, tuple[str, Callable[[str, str, str], dict[str, Callable[[], None]]]]] = {
    "openai-chat": ("openai", openai_chat),
    "openai-responses": ("openai", openai_responses),
    "anthropic": ("anthropic", anthropic),
    "google-genai": ("google-genai", google_genai),
    "openai-agents": ("openai-agents", openai_agents),
    "langchain-openai": ("langchain-openai", langchain_openai),
    "langchain-anthropic": ("langchain-anthropic", langchain_anthropic),
}


def run(client: str, base: str, key: str, route: str) -> dict[str, str]:
    dist, make = CLIENTS[client]
    out = {"version": version(dist)}
    for feature, flow in make(base, key, route).items():
        try:
            flow()
        except NotImplementedError:
            out[feature] = NA
        except Exception as exc:  # a flow's failure is a cell of the matrix
            line = traceback.format_exception_only(type(exc), exc)[-1].strip()
            out[feature] = "fail: " + line[:400]
        else:
            out[feature] = "pass"
    return out


if __name__ == "__main__":
    name, base_url, key, *routes = sys.argv[1:]
    for each in routes:
        print(json.dumps(run(name, base_url, key, each)), flush=True)
