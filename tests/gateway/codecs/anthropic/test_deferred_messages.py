"""An Anthropic Messages body whose turns are texts, tool calls and tool results (Claude
Code's: cache breakpoints on the system prompt and the last turn) parses to a
``DeferredChatRequest``: its messages are built when first read, and until then its
digest answers what the pipeline asks of them. Whatever the body, the request equals
the eager parse's on every property the pipeline reads (the fields, cache marks and
``unmapped`` names, the token estimate, the guardrail's texts, the prefix affinity key,
documents and images, the turns the reasoning ledger restores), and a body the eager parse refuses is refused with the same
error (issue #67)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any
from unittest import mock

import orjson
from hypothesis import event, given, settings
from hypothesis import strategies as st

from gateway.base import documents
from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, DeferredChatRequest, Text, messages_digest
from gateway.codecs import openai_common
from gateway.codecs.anthropic import inbound
from gateway.codecs.base import Target
from gateway.codecs.openai_chat import outbound as openai_chat
from gateway.core import capabilities, media_inline, reasoning_ledger, tokens, upstream
from gateway.features.guardrails import texts as guardrail_texts
from gateway.routing import prefix_affinity

sys.path.insert(0, str(Path(__file__).resolve().parents[4] / "bench"))
import agent_body  # noqa: E402  (bench/agent_body.py: Claude Code's shape)

EPHEMERAL = {"type": "ephemeral"}


def eager(body: dict[str, Any]) -> ChatRequest:
    """What the parse made before messages were deferred: every turn built at once."""
    with mock.patch.object(inbound, "_scan", return_value=None):
        return inbound.parse_request(body, {})


def outcome(parse: Any, body: dict[str, Any]) -> ChatRequest | str:
    try:
        return parse(body)  # type: ignore[no-any-return]
    except InvalidRequest as error:
        return f"{error.param}: {error}"


def deferred(request: ChatRequest) -> bool:
    return messages_digest(request) is not None


def test_claude_codes_body_is_deferred_and_nothing_on_the_passthrough_path_builds_it() -> None:
    body = orjson.loads(agent_body.anthropic_body(100, model="m"))
    with mock.patch.object(inbound, "_built_messages", wraps=inbound._built_messages) as parse:
        request = inbound.parse_request(body, {})
        assert type(request) is DeferredChatRequest
        tokens.estimate_tokens(request)
        guardrail_texts.request_slots(request)
        list(documents.iter_documents(request))
        wanting, newest = reasoning_ledger._wanting(request)  # (a guarded passthrough's)
        assert parse.call_count == 0
        openai_chat.build_body(request, Target(model="gpt"))  # (translated: written off the wire)
        assert parse.call_count == 0
        prefix_affinity.prefix_key(request, 10**6)  # the first turns only
        assert deferred(request)
        assert [len(call.args[0]) for call in parse.call_args_list] == [
            prefix_affinity.FIRST_MESSAGES
        ]
    reference = eager(body)
    assert (wanting, newest) == reasoning_ledger._wanting(reference)
    assert len(wanting) == 100 and newest == 199  # every assistant turn of the loop
    assert request.cache_marks == reference.cache_marks == ["system.0", "messages.200.content.0"]
    assert request.messages == reference.messages and not deferred(request)
    assert request == reference


# --- any body: the deferred parse is the eager one ---------------------------------------

texts = st.text(max_size=10)
cache = st.sampled_from(
    [EPHEMERAL, {"type": "ephemeral", "ttl": "1h"}, {"type": "ephemeral", "ttl": "2h"}, "x"]
)
arguments = st.dictionaries(
    st.sampled_from(["path", "é", "n"]), texts | st.integers(-(2**40), 2**40), max_size=3
)
result_items = st.lists(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, texts),
        st.just({"type": "text", "text": "x", "cache_control": EPHEMERAL}),
        st.just({"type": "image", "source": {"type": "url", "url": "http://x/i.png"}}),
        st.just({"type": "text", "text": 5}),
    ),
    max_size=3,
)


def _with(strategy: Any, optional: dict[str, Any]) -> Any:
    return st.fixed_dictionaries(strategy, optional=optional)


block = st.one_of(
    _with({"type": st.just("text"), "text": texts}, {"cache_control": cache}),
    _with(
        {
            "type": st.just("tool_use"),
            "id": st.sampled_from(["t1", "", 3]),
            "name": st.sampled_from(["Bash", "Read"]),
            "input": arguments | st.just([1]),
        },
        {"cache_control": cache},
    ),
    _with(
        {"type": st.just("tool_result"), "tool_use_id": st.sampled_from(["t1", 2])},
        {
            "content": texts | result_items | st.none(),
            "is_error": st.sampled_from([True, False, "no"]),
            "cache_control": cache,
        },
    ),
    st.just({"type": "text", "text": "cited", "citations": [{"x": 1}]}),
    st.just({"type": "image", "source": {"type": "url", "url": "http://x/i.png"}}),
    st.just({"type": "thinking", "thinking": "hm", "signature": "s"}),
    st.just({"type": "search_result", "content": []}),
    st.just({"type": "document", "source": {"type": "text", "data": "a doc"}}),
    st.just({"type": "mystery"}),
    st.just("not a block"),
)
turn = _with(
    {
        "role": st.sampled_from(["user", "user", "assistant", "assistant", "system", "robot"]),
        "content": texts | st.lists(block, max_size=4) | st.just(7),
    },
    {"cache_control": st.just(EPHEMERAL)},
)
system = st.one_of(
    st.none(),
    texts,
    st.lists(_with({"type": st.just("text"), "text": texts}, {"cache_control": cache}), max_size=2),
)
good_cache = st.sampled_from([EPHEMERAL, {"type": "ephemeral", "ttl": "1h"}])
# the blocks an agent's turns are made of (so most examples are deferred)
plain_block = st.one_of(
    _with({"type": st.just("text"), "text": texts}, {"cache_control": good_cache}),
    _with(
        {
            "type": st.just("tool_use"),
            "id": st.just("t1"),
            "name": st.sampled_from(["Bash", "Read"]),
            "input": arguments,
        },
        {"cache_control": good_cache},
    ),
    _with(
        {"type": st.just("tool_result"), "tool_use_id": st.just("t1")},
        {
            "content": texts | st.lists(st.builds(lambda t: {"type": "text", "text": t}, texts)),
            "is_error": st.booleans(),
            "cache_control": good_cache,
        },
    ),
)
plain_turn = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["user", "assistant"]),
        "content": texts | st.lists(plain_block, max_size=5),
    }
)


@settings(max_examples=400, deadline=None)
@given(
    system,
    st.lists(turn, max_size=6) | st.lists(plain_turn, min_size=1, max_size=10) | st.just("x"),
)
def test_any_body_parses_as_the_eager_parse_on_what_the_pipeline_reads(
    system: Any, messages: Any
) -> None:
    body: dict[str, Any] = {"model": "m", "max_tokens": 8, "messages": messages}
    if system is not None:
        body["system"] = system
    body["tools"] = [{"name": "Bash", "input_schema": {}, "cache_control": EPHEMERAL}]
    reference = outcome(eager, body)
    request = outcome(lambda b: inbound.parse_request(b, {}), body)
    if isinstance(reference, str):
        assert request == reference  # the same refusal, naming the same field
        return
    assert isinstance(request, ChatRequest)
    lazy = deferred(request)
    event(f"deferred: {lazy}")
    # what the passthrough path reads, with nothing built
    assert request.cache_marks == reference.cache_marks
    assert request.unmapped == reference.unmapped
    assert tokens.estimate_tokens(request) == tokens.estimate_tokens(reference)
    assert list(documents.iter_documents(request)) == list(documents.iter_documents(reference))
    assert capabilities._has_images(request) == capabilities._has_images(reference)
    assert guardrail_texts.request_slots(request).texts == (
        guardrail_texts.request_slots(reference).texts
    )
    assert prefix_affinity.prefix_key(request, 10**6) == prefix_affinity.prefix_key(
        reference, 10**6
    )
    # what the reasoning ledger reads of each turn, and the turns it would restore
    assert list(reasoning_ledger._turns(request)) == list(reasoning_ledger._turns(reference))
    assert reasoning_ledger._wanting(request) == reasoning_ledger._wanting(reference)
    # what a translation to an OpenAI chat upstream reads and writes (the deferred one
    # written off the wire in one pass): the same body, byte for byte
    dropped = upstream.foreign_reasoning_dropped(request, frozenset())  # (no verifier)
    assert media_inline._urls(request, frozenset()) == media_inline._urls(reference, frozenset())
    assert openai_common.derived_cache_key(request) == openai_common.derived_cache_key(reference)
    target = Target(model="gpt")
    assert orjson.dumps(openai_chat.build_body(request, target)) == orjson.dumps(
        openai_chat.build_body(reference, target)
    )
    assert deferred(request) == lazy  # none of those built the messages
    assert dropped == upstream.foreign_reasoning_dropped(reference, frozenset())
    # orjson writes it as the eager one (the response cache's key hashes those bytes)
    assert orjson.dumps(inbound.parse_request(body, {})) == orjson.dumps(reference)
    assert request == reference and request.messages == reference.messages


def test_most_agent_shaped_bodies_are_deferred() -> None:
    """The scan takes what an agent sends, marks and all (the strategy above would pass
    with a scan that took nothing)."""
    body = {
        "model": "m",
        "max_tokens": 8,
        "system": [{"type": "text", "text": "s", "cache_control": EPHEMERAL}],
        "messages": [
            {"role": "user", "content": "hi"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "t", "name": "B", "input": {}}],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "t",
                        "content": [{"type": "text", "text": "ok"}],
                        "cache_control": {"type": "ephemeral", "ttl": "1h"},
                    }
                ],
            },
        ],
    }
    request = inbound.parse_request(body, {})
    assert deferred(request)
    assert request.cache_marks == ["system.0", "messages.2.content.0"]
    assert request == eager(body)


def test_a_rewritten_message_is_written_as_rewritten_not_off_the_wire() -> None:
    """Once anything reads the messages (a guardrail that redacts a text, media inlined),
    the OpenAI body is written from the built ones: a rewrite reaches the upstream."""
    body = orjson.loads(agent_body.anthropic_body(3, model="m"))
    request = inbound.parse_request(body, {})
    target = Target(model="gpt")
    assert "[REDACTED]" not in orjson.dumps(openai_chat.build_body(request, target)).decode()
    first = request.messages[0].parts[0]
    assert isinstance(first, Text)
    first.text = "[REDACTED]"
    assert not deferred(request)
    written = openai_chat.build_body(request, target)["messages"]
    assert written[1] == {"role": "user", "content": "[REDACTED]"}  # (after the system)
    assert body["messages"][0]["content"] != "[REDACTED]"  # (the caller's wire untouched)
