"""Prompt caching across translation, live: the official ``openai`` and ``anthropic``
SDKs against a real gateway whose routes point at the mock Anthropic upstream and the
mock Bedrock runtime, which enforce the real limit of 4 breakpoints and report cache
reads and writes for a repeated prefix (``mock_prompt_cache``). A Codex-style conversation (OpenAI chat in,
Claude out) must see cached tokens on its second turn, priced lower in the journal."""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import anthropic
import httpx
import pytest

from tests.aws import ACCESS_KEY, REGION, SECRET_KEY
from tests.live import MASTER_KEY, Gateway, running_gateway

from .bedrock_upstream import MockBedrock
from .mock_upstream import MockUpstream, Reply

SECRET = "sk-ant-upstream-cache-0123"
LONG_SYSTEM = "You are a careful coding agent working in a large repository. " * 150
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "read_file",
            "description": "Read a file of the repository",
            "parameters": {"type": "object", "properties": {"path": {"type": "string"}}},
        },
    }
]
# USD per 1M tokens: input, output, cache read, cache write (Claude Sonnet's list prices)
PRICES = {"input": "3", "output": "15", "cache_read": "0.30", "cache_write": "3.75"}


def setup_code(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

p = Provider(name="mock-anthropic", kind="anthropic", base_url="{mock_url}")
p.set_secret("{SECRET}")
p.save()
for name, auto in (("claude-cached", True), ("claude-plain", False)):
    r = Route.objects.create(name=name, max_attempts=1, auto_cache_breakpoints=auto)
    Deployment.objects.create(
        route=r, provider=p, model="up-claude", max_output_tokens=4096, context_window=200000,
        input_price="{PRICES["input"]}", output_price="{PRICES["output"]}",
        cache_read_price="{PRICES["cache_read"]}", cache_write_price="{PRICES["cache_write"]}",
    )
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Gateway, MockUpstream]]:
    mock = MockUpstream().start()
    try:
        with running_gateway(
            tmp_path_factory.mktemp("gateway"),
            setup=[["shell", "-c", setup_code(mock.url)]],
        ) as gw:
            yield gw, mock
    finally:
        mock.stop()


@pytest.fixture
def gw(stack: tuple[Gateway, MockUpstream]) -> Iterator[Gateway]:
    stack[1].reset()
    yield stack[0]
    assert "Traceback" not in stack[0].log(), stack[0].log()[-4000:]


@pytest.fixture
def mock(stack: tuple[Gateway, MockUpstream]) -> MockUpstream:
    return stack[1]


def openai_client(gw: Gateway):  # type: ignore[no-untyped-def]
    from openai import OpenAI

    return OpenAI(base_url=gw.url + "/v1", api_key=MASTER_KEY, max_retries=0)


def journal_row(gw: Gateway, request_id: str) -> dict[str, Any]:
    """The request's log row, once the journal writer has flushed it."""
    auth = {"authorization": f"Bearer {MASTER_KEY}"}
    with httpx.Client(base_url=gw.url, timeout=5) as client:
        for _ in range(100):
            found = client.get(f"/api/logs/{request_id}", headers=auth)
            if found.status_code == 200:
                return found.json()
            time.sleep(0.05)
    raise AssertionError(f"no journal row for {request_id}")


def priced(row: dict[str, Any]) -> Decimal:
    """The row's usage at the deployment's prices, cache reads and writes apart."""
    million = Decimal(1_000_000)
    return (
        row["input_tokens"] * Decimal(PRICES["input"])
        + row["output_tokens"] * Decimal(PRICES["output"])
        + row["cache_read_tokens"] * Decimal(PRICES["cache_read"])
        + row["cache_write_tokens"] * Decimal(PRICES["cache_write"])
    ) / million


def conversation(turn: int) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": LONG_SYSTEM},
        {"role": "user", "content": "What does main.py do?"},
    ]
    if turn >= 2:
        messages += [
            {"role": "assistant", "content": "It starts the server. " * 200},
            {"role": "user", "content": "And util.py?"},
        ]
    return messages


@pytest.mark.parametrize("stream", [False, True])
def test_codex_style_turns_on_claude_read_the_cache_on_turn_two(
    gw: Gateway, mock: MockUpstream, stream: bool
) -> None:
    client = openai_client(gw)
    rows, usages = [], []
    for turn in (1, 2):
        mock.queue(Reply(text="Looks fine.", output_tokens=5))
        kwargs: dict[str, Any] = {"model": "claude-cached", "messages": conversation(turn)}
        if stream:
            raw = client.chat.completions.with_raw_response.create(
                **kwargs, tools=TOOLS, stream=True, stream_options={"include_usage": True}
            )
            usage = [c.usage for c in raw.parse() if c.usage][-1]
        else:
            raw = client.chat.completions.with_raw_response.create(**kwargs, tools=TOOLS)
            usage = raw.parse().usage
        usages.append(usage)
        rows.append(journal_row(gw, raw.headers["x-request-id"]))
        sent = mock.last.body
        assert sent["tools"][-1]["cache_control"] == {"type": "ephemeral"}
        assert sent["system"][-1]["cache_control"] == {"type": "ephemeral"}
        assert str(sent).count("cache_control") == (2 if turn == 1 else 3)

    first, second = rows
    assert first["prompt_cache_breakpoints"] == "auto: tools, system"
    assert second["prompt_cache_breakpoints"] == "auto: tools, system, messages[1]"
    # turn 1 wrote the prefix, turn 2 read it and wrote only what was new
    assert first["cache_read_tokens"] == 0 and first["cache_write_tokens"] > 1024
    assert second["cache_read_tokens"] == first["cache_write_tokens"]
    assert 0 < second["cache_write_tokens"] < second["cache_read_tokens"]
    assert usages[1].prompt_tokens_details.cached_tokens == second["cache_read_tokens"]
    # priced with the cache prices: turn 2 costs less than its prompt at the input price
    for row in rows:
        assert Decimal(row["cost_usd"]) == priced(row)
    prompt = second["input_tokens"] + second["cache_read_tokens"] + second["cache_write_tokens"]
    full = (prompt * Decimal(3) + second["output_tokens"] * Decimal(15)) / Decimal(1_000_000)
    assert Decimal(second["cost_usd"]) < full / 2


def test_route_setting_off_sends_no_breakpoints(gw: Gateway, mock: MockUpstream) -> None:
    client = openai_client(gw)
    for turn in (1, 2):
        raw = client.chat.completions.with_raw_response.create(
            model="claude-plain", messages=conversation(turn), tools=TOOLS
        )
        assert "cache_control" not in mock.last.raw.decode()
        row = journal_row(gw, raw.headers["x-request-id"])
        assert row["prompt_cache_breakpoints"] == ""
        assert row["cache_read_tokens"] == row["cache_write_tokens"] == 0


def test_tiny_requests_go_unchanged(gw: Gateway, mock: MockUpstream) -> None:
    openai_client(gw).chat.completions.create(
        model="claude-cached", messages=[{"role": "user", "content": "hi"}]
    )
    assert "cache_control" not in mock.last.raw.decode()


def claude_code_body(breakpoints: int) -> dict[str, Any]:
    """An Anthropic body with ``breakpoints`` cache_control marks, all on system blocks."""
    system = [
        {
            "type": "text",
            "text": f"Part {i}. " + LONG_SYSTEM,
            "cache_control": {"type": "ephemeral"},
        }
        for i in range(breakpoints)
    ]
    return {
        "model": "claude-cached",
        "max_tokens": 64,
        "system": system,
        "messages": [{"role": "user", "content": "hello"}],
    }


def test_anthropic_clients_pass_through_with_their_breakpoints(
    gw: Gateway, mock: MockUpstream
) -> None:
    client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    body = claude_code_body(2)
    raw = client.messages.with_raw_response.create(**body)
    first = raw.parse()
    assert mock.last.body["system"] == body["system"]  # untouched
    row = journal_row(gw, raw.headers["x-request-id"])
    assert row["prompt_cache_breakpoints"] == "client: system.0, system.1"
    second = client.messages.create(**body)
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    # more than the API's 4 is the API's own 400, as it would be calling Anthropic directly
    with pytest.raises(anthropic.BadRequestError) as refused:
        client.messages.create(**claude_code_body(5))
    assert "A maximum of 4 blocks with cache_control" in str(refused.value)


# --- Bedrock: cachePoint blocks ----------------------------------------------------------

BEDROCK_CLAUDE = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"


def bedrock_setup(mock_url: str) -> str:
    return f"""
from gateway.models import Deployment, Provider, Route

p = Provider(name="aws-mock", kind="bedrock", base_url="{mock_url}")
p.set_secret("{SECRET_KEY}")
p.save()
r = Route.objects.create(name="bedrock-cached", max_attempts=1)
Deployment.objects.create(
    route=r, provider=p, model="{BEDROCK_CLAUDE}", max_output_tokens=4096,
    context_window=200000,
    params={{"aws_access_key_id": "os.environ/BEDROCK_TEST_KEY_ID", "aws_region_name": "{REGION}"}},
    input_price="{PRICES["input"]}", output_price="{PRICES["output"]}",
    cache_read_price="{PRICES["cache_read"]}", cache_write_price="{PRICES["cache_write"]}",
)
"""


@pytest.fixture(scope="module")
def bedrock_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Gateway, MockBedrock]]:
    mock = MockBedrock().start()
    env = {"BEDROCK_TEST_KEY_ID": ACCESS_KEY, "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        with running_gateway(
            tmp_path_factory.mktemp("bedrock"),
            env=env,
            setup=[["shell", "-c", bedrock_setup(mock.url)]],
        ) as gw:
            yield gw, mock
    finally:
        mock.stop()


@pytest.mark.parametrize("stream", [False, True])
def test_responses_turns_on_bedrock_read_the_cache_on_turn_two(
    bedrock_stack: tuple[Gateway, MockBedrock], stream: bool
) -> None:
    gw, mock = bedrock_stack
    mock.reset()
    client = openai_client(gw)
    history: list[dict[str, Any]] = [{"role": "user", "content": "What does main.py do?"}]
    rows, usages = [], []
    for turn in (1, 2):
        if turn == 2:
            history += [
                {"role": "assistant", "content": "It starts the server. " * 200},
                {"role": "user", "content": "And util.py?"},
            ]
        kwargs: dict[str, Any] = {
            "model": "bedrock-cached",
            "instructions": LONG_SYSTEM,
            "input": history,
            "tools": [{"type": "function", **TOOLS[0]["function"]}],
            "store": False,
        }
        if stream:
            raw = client.responses.with_raw_response.create(**kwargs, stream=True)
            done = [e for e in raw.parse() if e.type == "response.completed"][-1]
            usage = done.response.usage
        else:
            raw = client.responses.with_raw_response.create(**kwargs)
            usage = raw.parse().usage
        usages.append(usage)
        rows.append(journal_row(gw, raw.headers["x-request-id"]))
        sent = mock.last.body
        assert sent["toolConfig"]["tools"][-1] == {"cachePoint": {"type": "default"}}
        assert sent["system"][-1] == {"cachePoint": {"type": "default"}}
        assert mock.last.stream is stream

    first, second = rows
    assert mock.last.body["messages"][1]["content"][-1] == {"cachePoint": {"type": "default"}}
    assert second["prompt_cache_breakpoints"] == "auto: tools, system, messages[1]"
    assert first["cache_write_tokens"] > 1024 and first["cache_read_tokens"] == 0
    assert second["cache_read_tokens"] == first["cache_write_tokens"]
    assert usages[1].input_tokens_details.cached_tokens == second["cache_read_tokens"]
    for row in rows:
        assert Decimal(row["cost_usd"]) == priced(row)


def test_anthropic_clients_over_the_limit_are_trimmed_to_four_cache_points(
    bedrock_stack: tuple[Gateway, MockBedrock],
) -> None:
    """Five cache_control marks reach Bedrock as four cachePoints (the mock refuses a
    fifth as Bedrock does), the first one left out and the journal saying so."""
    gw, mock = bedrock_stack
    mock.reset()
    client = anthropic.Anthropic(base_url=gw.url, api_key=MASTER_KEY, max_retries=0)
    body = {**claude_code_body(5), "model": "bedrock-cached"}
    raw = client.messages.with_raw_response.create(**body)
    assert raw.parse().content[0].text == "Hello from Bedrock!"
    assert str(mock.last.body["system"]).count("cachePoint") == 4
    assert mock.last.body["system"][0] == {"text": body["system"][0]["text"]}  # no point after
    row = journal_row(gw, raw.headers["x-request-id"])
    assert row["prompt_cache_breakpoints"] == (
        "client: system, system, system, system; over the limit of 4, not sent: system"
    )
