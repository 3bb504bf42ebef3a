"""Hosted MCP tools on upstreams that cannot run them (#28 item 3), end to end: the
official OpenAI SDK (Responses ``mcp`` tool) and Anthropic SDK (``mcp_servers`` with
the ``mcp-client`` beta) against a running gateway routed to an OpenAI-chat and an
Anthropic mock upstream whose model calls the offered tool; the tools are served by
a real MCP server (the ``mcp`` SDK, streamable HTTP on 127.0.0.1)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator

import pytest

from tests.live import free_port
from tests.mcp_test_server import SECRET_WORD, running_mcp_server

from .conftest import Stack, start_stack
from .mock_tool_model import chatty_caller, tool_caller
from .mock_upstream import MockUpstream

TOKEN = "mcp-live-token-5a4b3c"
BETA = "mcp-client-2025-11-20"
ROUTES = ["mock-gpt", "mock-claude"]  # an OpenAI-chat upstream, an Anthropic upstream


@pytest.fixture(scope="module")
def mcp_url() -> Iterator[str]:
    with running_mcp_server(token=TOKEN) as url:
        yield url


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    env = {
        "SWITCHYARD_MCP_HOSTED_TIMEOUT": "3",
        "SWITCHYARD_MCP_HOSTED_MAX_CALLS": "4",
        "SWITCHYARD_MCP_HOSTED_ALLOW": "127.0.0.1",  # the test MCP server's address
    }
    with start_stack(tmp_path_factory, env=env) as running:
        yield running


@pytest.fixture
def mock(stack: Stack) -> Iterator[MockUpstream]:
    stack.mock.reset()
    yield stack.mock
    stack.mock.reset()


def mcp_tool(url: str, **more):  # type: ignore[no-untyped-def]
    tool = {
        "type": "mcp",
        "server_label": "tools",
        "server_url": url,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
        "require_approval": "never",
    }
    return {**tool, **more}


def mcp_servers(url: str) -> list[dict]:
    return [{"type": "url", "url": url, "name": "tools", "authorization_token": TOKEN}]


TOOLSET = [{"type": "mcp_toolset", "mcp_server_name": "tools"}]


def journal(stack: Stack, request_id: str) -> list[dict]:
    import time

    db = sqlite3.connect(stack.gw.data_dir / "switchyard.sqlite3")
    db.row_factory = sqlite3.Row
    try:
        for _ in range(50):  # the writer thread is off the request path
            rows = [
                dict(r)
                for r in db.execute(
                    "SELECT * FROM gateway_requestlog WHERE request_id = ?", (request_id,)
                )
            ]
            if rows:
                return rows
            time.sleep(0.1)
        return []
    finally:
        db.close()


@pytest.mark.parametrize("route", ROUTES)
def test_responses_sdk_runs_the_tool_and_answers_with_its_result(stack, mock, mcp_url, route):
    mock.default = tool_caller("secret_word")
    client = stack.openai()
    raw = client.responses.with_raw_response.create(
        model=route, input="What is the secret word?", tools=[mcp_tool(mcp_url)]
    )
    response = raw.parse()
    types = [item.type for item in response.output]
    assert types == ["mcp_list_tools", "mcp_call", "message"]
    listed, call = response.output[0], response.output[1]
    assert {t.name for t in listed.tools} >= {"secret_word", "add"}
    assert call.name == "secret_word" and call.output == SECRET_WORD and call.error is None
    assert SECRET_WORD in response.output_text
    # the model saw the tools as functions, then the result; usage is both turns
    assert len(mock.chat_requests()) == 2
    assert SECRET_WORD in mock.last.raw.decode()
    assert response.usage.input_tokens == 22 and response.usage.output_tokens == 14
    (row,) = journal(stack, raw.headers["x-request-id"])
    calls = json.loads(row["mcp_calls"])
    assert [(c["server"], c["tool"], c["status"]) for c in calls] == [
        ("tools", "secret_word", "ok")
    ]
    assert TOKEN not in json.dumps(row)
    stack.assert_clean_log()


@pytest.mark.parametrize("route", ROUTES)
def test_responses_sdk_stream_sends_the_mcp_events_in_order(stack, mock, mcp_url, route):
    mock.default = tool_caller("add", {"a": 20, "b": 22})
    client = stack.openai()
    events = list(
        client.responses.create(
            model=route, input="Add 20 and 22", tools=[mcp_tool(mcp_url)], stream=True
        )
    )
    kinds = [e.type for e in events]
    order = [
        "response.created",
        "response.mcp_list_tools.in_progress",
        "response.mcp_list_tools.completed",
        "response.mcp_call.in_progress",
        "response.mcp_call_arguments.done",
        "response.mcp_call.completed",
        "response.output_text.delta",
        "response.completed",
    ]
    positions = [kinds.index(kind) for kind in order]
    assert positions == sorted(positions), kinds
    final = events[-1].response
    assert [item.type for item in final.output] == ["mcp_list_tools", "mcp_call", "message"]
    assert final.output[1].output == "42"
    assert "42" in final.output_text
    indexes = [e.output_index for e in events if e.type == "response.output_item.added"]
    assert indexes == [0, 1, 2]


@pytest.mark.parametrize("route", ROUTES)
def test_anthropic_sdk_runs_the_tool_and_answers_with_its_result(stack, mock, mcp_url, route):
    mock.default = tool_caller("secret_word")
    client = stack.anthropic()
    message = client.beta.messages.create(
        model=route,
        max_tokens=256,
        messages=[{"role": "user", "content": "What is the secret word?"}],
        mcp_servers=mcp_servers(mcp_url),
        tools=TOOLSET,
        betas=[BETA],
    )
    types = [block.type for block in message.content]
    assert types == ["mcp_tool_use", "mcp_tool_result", "text"]
    use, result, text = message.content
    assert use.name == "secret_word" and use.server_name == "tools"
    assert result.tool_use_id == use.id and result.is_error is False
    assert result.content[0].text == SECRET_WORD
    assert SECRET_WORD in text.text
    assert message.stop_reason == "end_turn"


@pytest.mark.parametrize("route", ROUTES)
def test_anthropic_sdk_stream(stack, mock, mcp_url, route):
    mock.default = tool_caller("add", {"a": 2, "b": 3})
    client = stack.anthropic()
    with client.beta.messages.stream(
        model=route,
        max_tokens=256,
        messages=[{"role": "user", "content": "Add 2 and 3"}],
        mcp_servers=mcp_servers(mcp_url),
        tools=TOOLSET,
        betas=[BETA],
    ) as stream:
        message = stream.get_final_message()
    assert [b.type for b in message.content] == ["mcp_tool_use", "mcp_tool_result", "text"]
    assert message.content[0].input == {"a": 2, "b": 3}
    assert message.content[1].content[0].text == "5"
    assert "5" in message.content[2].text


def test_approval_then_previous_response_id_continues(stack, mock, mcp_url):
    mock.default = tool_caller("secret_word")
    client = stack.openai()
    tools = [mcp_tool(mcp_url, require_approval="always")]
    first = client.responses.create(model="mock-gpt", input="The secret word?", tools=tools)
    assert [item.type for item in first.output] == ["mcp_list_tools", "mcp_approval_request"]
    asked = first.output[1]
    assert asked.name == "secret_word"
    assert len(mock.chat_requests()) == 1  # nothing ran yet
    second = client.responses.create(
        model="mock-gpt",
        previous_response_id=first.id,
        input=[{"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": True}],
        tools=tools,
    )
    calls = [item for item in second.output if item.type == "mcp_call"]
    assert len(calls) == 1 and calls[0].approval_request_id == asked.id
    assert calls[0].output == SECRET_WORD
    assert SECRET_WORD in second.output_text


def test_declined_approval_runs_nothing(stack, mock, mcp_url):
    mock.default = tool_caller("secret_word")
    client = stack.openai()
    tools = [mcp_tool(mcp_url, require_approval="always")]
    first = client.responses.create(model="mock-gpt", input="The secret word?", tools=tools)
    asked = first.output[1]
    second = client.responses.create(
        model="mock-gpt",
        previous_response_id=first.id,
        input=[
            {"type": "mcp_approval_response", "approval_request_id": asked.id, "approve": False}
        ],
        tools=tools,
    )
    assert not [item for item in second.output if item.type == "mcp_call"]
    assert SECRET_WORD not in second.output_text
    assert "declined" in second.output_text


def test_errors_are_items_not_failures(stack, mock, mcp_url):
    client = stack.openai()
    # a tool that fails
    mock.default = tool_caller("explode")
    response = client.responses.create(model="mock-gpt", input="x", tools=[mcp_tool(mcp_url)])
    call = response.output[1]
    assert call.type == "mcp_call" and call.output is None and "explode" in call.error
    # a server that is down, one that refuses the credentials, a name nobody registered
    mock.default = tool_caller("nothing")
    down = f"http://127.0.0.1:{free_port()}/mcp"
    tools = [
        mcp_tool(down, server_label="down"),
        mcp_tool(mcp_url, server_label="locked", headers={"Authorization": "Bearer wrong-secret"}),
        {"type": "mcp", "server_label": "unregistered", "require_approval": "never"},
    ]
    raw = client.responses.with_raw_response.create(model="mock-gpt", input="x", tools=tools)
    response = raw.parse()
    errors = {item.server_label: item.error for item in response.output[:3]}
    assert "unreachable" in errors["down"]
    assert errors["locked"] and "wrong-secret" not in errors["locked"]
    assert "not registered" in errors["unregistered"]
    assert response.output[-1].type == "message"
    stack.assert_clean_log()


def test_anthropic_tool_error_is_an_error_result(stack, mock, mcp_url):
    mock.default = tool_caller("explode")
    message = stack.anthropic().beta.messages.create(
        model="mock-claude",
        max_tokens=64,
        messages=[{"role": "user", "content": "go"}],
        mcp_servers=mcp_servers(mcp_url),
        tools=TOOLSET,
        betas=[BETA],
    )
    result = message.content[1]
    assert result.type == "mcp_tool_result" and result.is_error is True


def test_route_setting_passes_them_to_an_upstream_that_runs_them(stack, mock, mcp_url):
    # in one transaction: the gateway's snapshot never has a route without its deployment
    stack.gw.shell(
        "from django.db import transaction\n"
        "from gateway.models import Deployment, Provider, Route\n"
        "with transaction.atomic():\n"
        "    for name, provider, model in (('pass-claude', 'mock-anthropic', 'up-claude'),"
        " ('pass-gpt', 'mock-openai', 'up-gpt')):\n"
        "        r = Route.objects.create(name=name, max_attempts=1, mcp_passthrough=True)\n"
        "        Deployment.objects.create(route=r, provider=Provider.objects.get(name=provider),"
        " model=model, max_output_tokens=1024)\n"
    )
    mock.default = tool_caller("secret_word")
    client = stack.anthropic()
    kwargs = {
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "mcp_servers": mcp_servers(mcp_url),
        "tools": TOOLSET,
        "betas": [BETA],
    }
    import time

    deadline = time.monotonic() + 10
    while True:  # the new routes reach the gateway's snapshot within a second or so
        try:
            message = client.beta.messages.create(model="pass-claude", **kwargs)
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    # an Anthropic upstream got the connector as sent, and answered by itself
    sent = mock.last.body
    assert sent["mcp_servers"][0]["url"] == mcp_url and sent["tools"] == TOOLSET
    assert len(mock.chat_requests()) == 1
    assert [b.type for b in message.content] == ["text"]
    # an OpenAI-chat upstream cannot run them: the gateway does, whatever the route says
    mock.reset()
    mock.default = tool_caller("secret_word")
    message = client.beta.messages.create(model="pass-gpt", **kwargs)
    assert [b.type for b in message.content] == ["mcp_tool_use", "mcp_tool_result", "text"]


CHATTY = [
    ("Let me look up the word.", "secret_word", {}),
    ("Now the sum.", "add", {"a": 1, "b": 2}),
]


@pytest.mark.parametrize("stream", [False, True])
def test_responses_sdk_gets_the_text_between_tool_calls(stack, mock, mcp_url, stream):
    """What the model says before each call is a message item in its place, streamed
    with its own events."""
    mock.default = chatty_caller(CHATTY)
    client = stack.openai()
    kwargs = {"model": "mock-claude", "input": "go", "tools": [mcp_tool(mcp_url)]}
    if stream:
        events = list(client.responses.create(**kwargs, stream=True))
        response = events[-1].response
        added = [e.item.type for e in events if e.type == "response.output_item.added"]
        assert added == [item.type for item in response.output]
        deltas = [e.delta for e in events if e.type == "response.output_text.delta"]
        assert deltas[0] == "Let me look up the word." and "".join(deltas[:2]).endswith("sum.")
    else:
        response = client.responses.create(**kwargs)
    assert [item.type for item in response.output] == [
        "mcp_list_tools",
        "message",
        "mcp_call",
        "message",
        "mcp_call",
        "message",
    ]
    texts = [item.content[0].text for item in response.output if item.type == "message"]
    assert texts[:2] == ["Let me look up the word.", "Now the sum."]
    assert texts[2] == f"Done: {SECRET_WORD} | 3"
    assert [item.output for item in response.output if item.type == "mcp_call"] == [
        SECRET_WORD,
        "3",
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_gets_the_text_between_tool_calls(stack, mock, mcp_url, stream):
    mock.default = chatty_caller(CHATTY)
    client = stack.anthropic()
    kwargs = {
        "model": "mock-gpt",
        "max_tokens": 256,
        "messages": [{"role": "user", "content": "go"}],
        "mcp_servers": mcp_servers(mcp_url),
        "tools": TOOLSET,
        "betas": [BETA],
    }
    if stream:
        with client.beta.messages.stream(**kwargs) as running:
            message = running.get_final_message()
    else:
        message = client.beta.messages.create(**kwargs)
    assert [b.type for b in message.content] == [
        "text",
        "mcp_tool_use",
        "mcp_tool_result",
        "text",
        "mcp_tool_use",
        "mcp_tool_result",
        "text",
    ]
    texts = [b.text for b in message.content if b.type == "text"]
    assert texts == ["Let me look up the word.", "Now the sum.", f"Done: {SECRET_WORD} | 3"]
    assert message.content[4].input == {"a": 1, "b": 2}
