"""Capability-driven translation: what the catalog says a model takes decides what is
dropped (drop_params) or refused, and which models get their reasoning echoed back."""

from __future__ import annotations

import httpx
import orjson
import pytest

from gateway.access import registry
from gateway.base import http
from gateway.base.entries import MASTER
from gateway.catalog import store
from gateway.core import service
from gateway.models import Deployment, Provider, Route

HOSTS = {
    "openai": "https://api.openai.com/v1",
    "deepseek": "https://api.deepseek.com/v1",
    "anthropic": "https://api.anthropic.com",
}


def openai_answer(model: str) -> dict:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": model,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
    }


ANTHROPIC_ANSWER = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 5, "output_tokens": 1},
}


@pytest.fixture
def upstream(settings, tmp_path, snapshot_reset):
    """Routes named after their upstream model; yields (bodies the upstream received, make)."""
    settings.DATA_DIR = tmp_path
    store.reset()
    seen: list[dict] = []

    def answer(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        seen.append(body)
        if request.url.host == "api.anthropic.com":
            return httpx.Response(200, json=ANTHROPIC_ANSWER)
        return httpx.Response(200, json=openai_answer(body["model"]))

    http.use_transport(httpx.MockTransport(answer))

    def make(vendor: str, model: str, drop_params: bool = True, **fields) -> None:
        provider, _ = Provider.objects.get_or_create(
            name=vendor,
            defaults={
                "kind": "anthropic" if vendor == "anthropic" else "openai",
                "base_url": HOSTS[vendor],
            },
        )
        route = Route.objects.create(name=model, drop_params=drop_params)
        Deployment.objects.create(route=route, provider=provider, model=model, **fields)
        registry.rebuild()

    yield seen, make
    http.use_transport(None)


async def send(dialect: str, body: dict) -> service.Reply:
    if dialect == "anthropic":
        body.setdefault("max_tokens", 100)
    return await service.handle("chat", dialect, orjson.dumps(body), {}, service.Caller(key=MASTER))


TOOL = {
    "type": "function",
    "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
}


@pytest.mark.django_db(transaction=True)
async def test_sampling_parameters_a_reasoning_model_refuses_are_dropped(upstream):
    seen, make = upstream
    await sync(make, "openai", "gpt-5")
    reply = await send(
        "openai",
        {
            "model": "gpt-5",
            "temperature": 0.2,
            "top_p": 0.9,
            "presence_penalty": 0.5,
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert reply.status == 200, reply.body
    assert not {"temperature", "top_p", "presence_penalty"} & set(seen[0])
    # Anthropic in, translated: the same rule
    reply = await send(
        "anthropic",
        {"model": "gpt-5", "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status == 200, reply.body
    assert "temperature" not in seen[1]


@pytest.mark.django_db(transaction=True)
async def test_a_model_that_takes_them_keeps_them(upstream):
    seen, make = upstream
    await sync(make, "openai", "gpt-4o")
    reply = await send(
        "openai",
        {"model": "gpt-4o", "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status == 200 and seen[0]["temperature"] == 0.2


@pytest.mark.django_db(transaction=True)
async def test_without_drop_params_the_request_is_refused_naming_the_parameter(upstream):
    seen, make = upstream
    await sync(make, "openai", "gpt-5", drop_params=False)
    reply = await send(
        "openai",
        {"model": "gpt-5", "temperature": 0.2, "messages": [{"role": "user", "content": "hi"}]},
    )
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert "does not take parameter(s) temperature" in error["message"]
    assert "drop_params" in error["message"] and error["param"] == "temperature"
    assert seen == []


@pytest.mark.django_db(transaction=True)
async def test_tools_are_dropped_for_a_model_without_tool_calling(upstream):
    seen, make = upstream
    await sync(make, "deepseek", "deepseek-reasoner")  # the catalog: no function calling
    reply = await send(
        "openai",
        {
            "model": "deepseek-reasoner",
            "tools": [TOOL],
            "tool_choice": "auto",
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert reply.status == 200, reply.body
    assert "tools" not in seen[0] and "tool_choice" not in seen[0]


@pytest.mark.django_db(transaction=True)
async def test_a_deployment_setting_beats_the_catalog(upstream):
    seen, make = upstream
    await sync(make, "deepseek", "deepseek-reasoner", supports_tools=True)
    reply = await send(
        "openai",
        {
            "model": "deepseek-reasoner",
            "tools": [TOOL],
            "messages": [{"role": "user", "content": "hi"}],
        },
    )
    assert reply.status == 200 and seen[0]["tools"]


THINKING_HISTORY = [
    {"role": "user", "content": "What is 2+2?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "thinking": "Two plus two is four.", "signature": "sig"},
            {"type": "text", "text": "4"},
        ],
    },
    {"role": "user", "content": "And times 3?"},
]


@pytest.mark.django_db(transaction=True)
async def test_reasoning_is_echoed_to_deepseek_style_thinking_models(upstream):
    seen, make = upstream
    await sync(make, "deepseek", "deepseek-reasoner")
    reply = await send("anthropic", {"model": "deepseek-reasoner", "messages": THINKING_HISTORY})
    assert reply.status == 200, reply.body
    assistant = seen[0]["messages"][1]
    assert assistant["role"] == "assistant"
    assert assistant["reasoning_content"] == "Two plus two is four."


@pytest.mark.django_db(transaction=True)
async def test_reasoning_is_not_echoed_to_models_that_do_not_want_it(upstream):
    seen, make = upstream
    await sync(make, "openai", "o3")  # reasons, but takes no reasoning_content back
    reply = await send("anthropic", {"model": "o3", "messages": THINKING_HISTORY})
    assert reply.status == 200, reply.body
    assert "reasoning_content" not in seen[0]["messages"][1]


IMAGE = {
    "type": "image",
    "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="},
}
PDF = {
    "type": "document",
    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0xLjQK"},
}


@pytest.mark.django_db(transaction=True)
async def test_images_to_a_model_without_vision_are_a_400_naming_it(upstream):
    seen, make = upstream
    await sync(make, "deepseek", "deepseek-chat")
    reply = await send(
        "anthropic",
        {
            "model": "deepseek-chat",
            "messages": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "what?"}]}],
        },
    )
    assert reply.status == 400
    body = orjson.loads(reply.body)
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "'deepseek-chat'" in body["error"]["message"]
    assert "cannot read images" in body["error"]["message"]
    assert seen == []


@pytest.mark.django_db(transaction=True)
async def test_pdfs_to_a_model_that_cannot_read_them_are_a_400(upstream):
    seen, make = upstream
    await sync(make, "deepseek", "deepseek-chat")
    reply = await send(
        "anthropic",
        {
            "model": "deepseek-chat",
            "messages": [{"role": "user", "content": [PDF, {"type": "text", "text": "sum up"}]}],
        },
    )
    assert reply.status == 400
    assert "cannot read PDFs" in orjson.loads(reply.body)["error"]["message"]
    assert seen == []


@pytest.mark.django_db(transaction=True)
async def test_pdfs_pass_to_a_model_that_reads_them(upstream):
    seen, make = upstream
    await sync(make, "anthropic", "claude-sonnet-4-5")
    reply = await send(
        "anthropic",
        {
            "model": "claude-sonnet-4-5",
            "messages": [{"role": "user", "content": [PDF, {"type": "text", "text": "sum up"}]}],
        },
    )
    assert reply.status == 200, reply.body
    assert seen[0]["messages"][0]["content"][0]["type"] == "document"


async def sync(function, *args, **kwargs):
    from asgiref.sync import sync_to_async

    return await sync_to_async(function)(*args, **kwargs)


@pytest.mark.django_db(transaction=True)
async def test_reasoning_effort_goes_only_to_models_that_take_it(upstream):
    seen, make = upstream
    await sync(make, "openai", "o3")
    await sync(make, "deepseek", "deepseek-reasoner")  # always reasons, takes no effort
    for model in ("o3", "deepseek-reasoner"):
        reply = await send(
            "anthropic",
            {
                "model": model,
                "max_tokens": 20_000,
                "thinking": {"type": "enabled", "budget_tokens": 10_000},
                "messages": [{"role": "user", "content": "hi"}],
            },
        )
        assert reply.status == 200, reply.body
    assert seen[0]["reasoning_effort"] == "medium"
    assert "reasoning_effort" not in seen[1]


@pytest.mark.django_db(transaction=True)
async def test_an_openai_file_part_to_a_model_without_pdf_input_is_a_400(upstream):
    seen, make = upstream
    await sync(make, "openai", "gpt-3.5-turbo")
    part = {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERi0x"}}
    reply = await send(
        "openai",
        {"model": "gpt-3.5-turbo", "messages": [{"role": "user", "content": [part]}]},
    )
    assert reply.status == 400
    error = orjson.loads(reply.body)["error"]
    assert error["type"] == "invalid_request_error" and "cannot read PDFs" in error["message"]
    assert seen == []
