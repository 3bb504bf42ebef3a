"""The reasoning ledger on its own: bounds (entries, bytes), TTL, key scoping, restoring
into a canonical request, folding a stream, the Redis twin (db 11, this file's own) and
a Redis outage (a miss, never an error); and the codecs' family filter on a fallback."""

from __future__ import annotations

import socket
from dataclasses import replace
from unittest import mock

import pytest
import redis

from gateway.base import background
from gateway.base.entries import MASTER
from gateway.base.types import (
    ChatRequest,
    ChatResponse,
    Message,
    PartStart,
    PartStop,
    Reasoning,
    Text,
    Thinking,
    ThinkingDelta,
    ToolCall,
    ToolResult,
    messages_digest,
)
from gateway.codecs.anthropic import codec as anthropic_codec
from gateway.codecs.anthropic import inbound as anthropic_inbound
from gateway.codecs.base import Target
from gateway.codecs.bedrock import codec as bedrock_codec
from gateway.codecs.openai_responses import maps as responses_maps
from gateway.core import reasoning_ledger
from gateway.core.reasoning_ledger import StreamReasoning

REDIS_DB_URL = "redis://127.0.0.1:6379/11"
KEY_A = replace(MASTER, id=501, name="a", prefix="sk-a")
KEY_B = replace(MASTER, id=502, name="b", prefix="sk-b")
BLOB = (("I should look it up.", "sig-1", None),)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


# --- the LRU ------------------------------------------------------------------------------


# --- record and restore -------------------------------------------------------------------


@pytest.fixture
def local(settings):
    settings.REDIS_URL = ""
    reasoning_ledger.reset()
    yield
    reasoning_ledger.reset()


def answer(call_ids=("toolu_1",)) -> ChatResponse:
    return ChatResponse(
        "msg_1",
        "m",
        [Thinking("I should look it up.", signature="sig-1"), Text("Checking.")]
        + [ToolCall(c, "lookup", {"q": "x"}) for c in call_ids],
    )


def continuation(call_id: str = "toolu_1", thinking: Thinking | None = None) -> ChatRequest:
    assistant = [ToolCall(call_id, "lookup", {"q": "x"})]
    if thinking is not None:
        assistant.insert(0, thinking)
    return ChatRequest(
        "m",
        [
            Message("user", [Text("look it up")]),
            Message("assistant", assistant),
            Message("user", [ToolResult(call_id, [Text("found")])]),
        ],
    )


async def test_restore_puts_the_signed_thinking_first_in_place_of_the_bare_text(local) -> None:
    reasoning_ledger.record_response(KEY_A, answer())
    request = continuation(thinking=Thinking("I should look it up."))  # text, no signature
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    parts = request.messages[1].parts
    assert parts[0] == Thinking("I should look it up.", signature="sig-1")
    assert [type(p) for p in parts] == [Thinking, ToolCall]


async def test_another_key_cannot_restore_it(local) -> None:
    reasoning_ledger.record_response(KEY_A, answer())
    request = continuation()
    assert await reasoning_ledger.restore(KEY_B, request) == 0
    assert await reasoning_ledger.restore(MASTER, request) == 0
    assert not any(isinstance(p, Thinking) for p in request.messages[1].parts)


async def test_a_turn_that_carried_its_own_signature_is_left_alone(local) -> None:
    reasoning_ledger.record_response(KEY_A, answer())
    own = Thinking("mine", signature="sig-client")
    request = continuation(thinking=own)
    assert await reasoning_ledger.restore(KEY_A, request) == 0
    assert request.messages[1].parts[0] is own


async def test_every_call_of_a_parallel_turn_finds_the_turn(local) -> None:
    reasoning_ledger.record_response(KEY_A, answer(("toolu_1", "toolu_2")))
    request = continuation("toolu_2")  # a client that kept only the second call
    assert await reasoning_ledger.restore(KEY_A, request) == 1


async def test_an_answer_without_tool_calls_or_signatures_records_nothing(local) -> None:
    reasoning_ledger.record_response(KEY_A, ChatResponse("m", "m", [Thinking("x", "sig")]))
    unsigned = ChatResponse("m", "m", [Thinking("x"), ToolCall("toolu_9", "f")])
    reasoning_ledger.record_response(KEY_A, unsigned)
    assert len(reasoning_ledger.ledger()) == 0


def test_a_stream_is_folded_with_its_signature_and_redacted_parts() -> None:
    folded = StreamReasoning()
    for event in [
        PartStart(0, "thinking"),
        ThinkingDelta(0, "I should "),
        ThinkingDelta(0, "look it up."),
        ThinkingDelta(0, signature="sig-"),
        ThinkingDelta(0, signature="1"),
        PartStop(0),
        PartStart(1, "thinking"),
        ThinkingDelta(1, redacted="opaque"),
        PartStart(2, "thinking"),
        ThinkingDelta(2, "unsigned musing"),  # never signed: nothing to hand back
        PartStart(3, "tool_call", tool_id="toolu_1", tool_name="lookup"),
    ]:
        folded.feed(event)
    assert folded.calls == ["toolu_1"]
    assert folded.blob() == (("I should look it up.", "sig-1", None), ("", None, "opaque"))


# --- Redis ----------------------------------------------------------------------------------


@pytest.fixture
def shared(settings, redis_prefix):
    settings.REDIS_URL = REDIS_DB_URL
    reasoning_ledger.reset()
    client = redis.Redis.from_url(REDIS_DB_URL)
    yield client
    for name in client.scan_iter(f"{redis_prefix}:*"):  # this test's own keys only
        client.delete(name)
    client.close()
    reasoning_ledger.reset()


async def test_redis_carries_it_to_another_worker_with_its_ttl(shared, settings) -> None:
    settings.SWITCHYARD_REASONING_LEDGER_TTL = 120
    reasoning_ledger.record_response(KEY_A, answer())
    await background.done()
    name = f"{reasoning_ledger.REDIS_PREFIX}:501:toolu_1"
    assert shared.exists(name)
    assert 0 < shared.ttl(name) <= 120
    reasoning_ledger.reset()  # another worker: an empty local ledger
    request = continuation()
    assert await reasoning_ledger.restore(KEY_B, request) == 0  # scoped in Redis too
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    assert request.messages[1].parts[0] == Thinking("I should look it up.", signature="sig-1")
    assert reasoning_ledger.ledger().get("501", "toolu_1") is not None  # kept locally now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_a_redis_outage_is_a_miss_not_an_error(settings, caplog) -> None:
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/11"  # nobody listens
    reasoning_ledger.reset()
    try:
        reasoning_ledger.record_response(KEY_A, answer())
        await background.done()  # the write failed quietly; the local copy stands
        request = continuation()
        assert await reasoning_ledger.restore(KEY_A, request) == 1
        reasoning_ledger.reset()
        assert await reasoning_ledger.restore(KEY_A, continuation()) == 0
    finally:
        reasoning_ledger.reset()
    assert sum("reasoning ledger: Redis" in r.message for r in caplog.records) == 1


# --- a fallback never sends reasoning the new family cannot read ----------------------------


@pytest.mark.parametrize("codec", [anthropic_codec, bedrock_codec])
def test_claude_upstreams_never_get_openai_encrypted_reasoning(codec) -> None:
    packed = responses_maps.pack_reasoning("gAAAA-encrypted-by-openai")
    request = continuation(thinking=Thinking("summary", signature=packed))
    request.reasoning = Reasoning(effort="high")
    request.max_tokens = 4096
    target = Target(model="claude-sonnet-4-5", max_output_tokens=32000, supports_reasoning=True)
    body = codec.build_request(request, target)
    assert "gAAAA" not in str(body)
    claude = continuation(thinking=Thinking("mine", signature="sig-claude"))
    claude.reasoning, claude.max_tokens = request.reasoning, 4096
    assert "sig-claude" in str(codec.build_request(claude, target))


async def test_only_the_current_tool_loop_is_restored(local) -> None:
    reasoning_ledger.record_response(KEY_A, answer(("toolu_old",)))
    reasoning_ledger.record_response(KEY_A, answer(("toolu_new",)))
    request = continuation("toolu_old")
    request.messages += [
        Message("assistant", [Text("Found it.")]),
        Message("user", [Text("and now the other one")]),  # the caller spoke: new loop
        Message("assistant", [ToolCall("toolu_new", "lookup", {"q": "y"})]),
        Message("user", [ToolResult("toolu_new", [Text("found")]), Text("(reminder)")]),
    ]
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    assert isinstance(request.messages[5].parts[0], Thinking)
    assert not any(isinstance(p, Thinking) for p in request.messages[1].parts)


def claude_loop(turns: int) -> ChatRequest:
    """An Anthropic client's tool loop as the codec parses it (messages unbuilt: a
    ``DeferredChatRequest``), its assistant turns without their thinking."""
    messages: list[dict] = [{"role": "user", "content": "look them up"}]
    for n in range(turns):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": f"Looking {n} up."},
                    {"type": "tool_use", "id": f"toolu_{n}", "name": "lookup", "input": {}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": f"toolu_{n}", "content": "ok"}],
            }
        )
    body = {"model": "m", "max_tokens": 8, "messages": messages}
    request = anthropic_inbound.parse_request(body, {})
    assert messages_digest(request) is not None  # deferred: nothing built yet
    return request


async def test_a_loop_with_nothing_recorded_is_read_off_the_wire_and_left_unbuilt(local) -> None:
    """A guarded passthrough of an agent's loop whose turns have no recorded reasoning
    (a model that does not reason) asks the ledger for every turn without building the
    canonical messages."""
    request = claude_loop(3)
    asked: list[str] = []
    get = reasoning_ledger.ledger().get
    with mock.patch.object(
        reasoning_ledger.ledger(), "get", side_effect=lambda s, c: asked.append(c) or get(s, c)
    ):
        assert await reasoning_ledger.restore(KEY_A, request) == 0
    assert asked == ["toolu_2", "toolu_1", "toolu_0"]  # every turn of the loop
    assert messages_digest(request) is not None


async def test_a_recorded_turn_of_a_wire_loop_gets_its_reasoning_in_its_own_message(local) -> None:
    reasoning_ledger.record_response(KEY_A, answer(("toolu_1",)))
    request = claude_loop(3)
    assert await reasoning_ledger.restore(KEY_A, request) == 1
    assert messages_digest(request) is None  # built, to carry it
    assert request.messages[3].parts[0] == Thinking("I should look it up.", signature="sig-1")
    others = [m for i, m in enumerate(request.messages) if i != 3]
    assert not any(isinstance(p, Thinking) for m in others for p in m.parts)
