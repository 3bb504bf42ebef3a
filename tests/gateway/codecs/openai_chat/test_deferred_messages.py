"""An OpenAI chat body whose messages are texts, tool calls and tool results parses to a
``DeferredChatRequest``: its messages are built when first read, and until then its
digest answers the token estimate and the wire messages the texts a guardrail reads.
Whatever the body, the request equals the eager parse's, its estimate and its
guardrail texts are the eager one's, and a body the eager parse refuses is refused with
the same error (issue #67)."""

from __future__ import annotations

import copy
import dataclasses
import json
import pickle
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.base.errors import InvalidRequest
from gateway.base.types import ChatRequest, DeferredChatRequest, MessagesDigest, messages_digest
from gateway.codecs.openai_chat import inbound
from gateway.core import tokens
from gateway.core.cache.codec import request_key
from gateway.features.guardrails import texts as guardrail_texts

AGENT = {
    "model": "m",
    "messages": [
        {"role": "system", "content": "You are a coding agent."},
        {"role": "developer", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "user", "content": "Fix the failing test."},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "read", "arguments": '{"path": "a.py", "limit": 2}'},
                },
                {"id": "call_2", "type": "function", "function": {"name": "ls", "arguments": ""}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "def f(): return 1"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "a.py"}]},
        {"role": "assistant", "content": "Done.", "reasoning_content": "It was f."},
    ],
    "tools": [{"type": "function", "function": {"name": "read", "parameters": {}}}],
}


def eager(body: dict[str, Any]) -> ChatRequest:
    """What the parse made before messages were deferred: every message built at once."""
    with mock.patch.object(inbound, "_scan", return_value=None):
        return inbound.parse_request(body, {})


def outcome(parse: Any, body: dict[str, Any]) -> ChatRequest | str:
    try:
        return parse(body)  # type: ignore[no-any-return]
    except InvalidRequest as error:
        return f"{error.param}: {error}"


def test_an_agent_body_is_deferred_and_built_on_first_read_as_the_eager_parse() -> None:
    built = []
    with mock.patch.object(inbound, "_built_messages", wraps=inbound._built_messages) as spy:
        request = inbound.parse_request(AGENT, {})
        built.append(spy.call_count)
        assert type(request) is DeferredChatRequest
        digest = messages_digest(request)
        assert digest is not None and digest.count == 4  # the two tool messages: one turn
        estimate = tokens.estimate_tokens(request)
        assert request.system[0].text == "You are a coding agent."
        built.append(spy.call_count)
        messages = request.messages
        built.append(spy.call_count)
        assert request.messages is messages  # built once
        built.append(spy.call_count)
    assert built == [0, 0, 1, 1]
    assert messages_digest(request) is None
    reference = eager(AGENT)
    assert request == reference and reference == request
    assert messages == reference.messages
    assert estimate == tokens.estimate_tokens(reference) == tokens.estimate_tokens(request)


def test_the_response_cache_keys_a_deferred_request_as_the_eager_one() -> None:
    deferred = inbound.parse_request(AGENT, {})
    assert request_key("r", deferred, 1, "up") == request_key("r", eager(AGENT), 1, "up")


def test_messages_set_before_they_are_read_replace_the_deferred_ones() -> None:
    request = inbound.parse_request(AGENT, {})
    request.messages = []
    assert request.messages == [] and messages_digest(request) is None


def test_a_copy_a_pickle_and_a_replace_carry_the_built_messages() -> None:
    reference = eager(AGENT)
    for made in (
        copy.deepcopy(inbound.parse_request(AGENT, {})),
        copy.copy(inbound.parse_request(AGENT, {})),
        pickle.loads(pickle.dumps(inbound.parse_request(AGENT, {}))),
        dataclasses.replace(inbound.parse_request(AGENT, {})),
    ):
        assert made == reference
        assert messages_digest(made) is None


def test_a_build_that_fails_leaves_the_messages_unbuilt_never_empty() -> None:
    def failing() -> list[Any]:
        raise RuntimeError("a bug in the builder")

    request = DeferredChatRequest(model="m", build=failing, digest=MessagesDigest(1, 1))
    for _ in range(2):
        with pytest.raises(RuntimeError):
            _ = request.messages
    assert messages_digest(request) == MessagesDigest(1, 1)


@pytest.mark.parametrize(
    "message",
    [
        {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "http://x/i.png"}}],
        },
        {"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]},
        {"role": "assistant", "content": None, "refusal": "no"},
        {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": "{}"}},
    ],
)
def test_media_refusals_and_legacy_calls_are_parsed_at_once(message: dict[str, Any]) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}, message]}
    request = inbound.parse_request(body, {})
    assert type(request) is ChatRequest
    assert request == eager(body)


# --- any body: the deferred parse is the eager one -----------------------------------------

texts = st.text(max_size=12)
arguments = st.one_of(
    st.dictionaries(st.sampled_from(["path", "é", "n"]), texts | st.integers(), max_size=3).map(
        lambda d: json.dumps(d)  # with spaces, and non-ASCII escaped: orjson writes neither
    ),
    st.dictionaries(st.sampled_from(["a", "b"]), texts, max_size=2),  # an object, not text
    st.sampled_from(["", "  ", "not json", "[1, 2]", "null", '{"a":1}', '{"a": "\\u00e9"}', 3]),
)
content_parts = st.lists(
    st.one_of(
        st.builds(lambda t: {"type": "text", "text": t}, texts),
        st.builds(lambda t: {"type": "refusal", "refusal": t}, texts),
        st.just({"type": "text", "text": 5}),
        st.just({"type": "image_url", "image_url": {"url": "http://x/i.png"}}),
    ),
    max_size=3,
)
contents = st.one_of(texts, content_parts, st.none(), st.just(7))
tool_call = st.fixed_dictionaries(
    {
        "id": st.sampled_from(["c1", "c2", 9]),
        "type": st.just("function"),
        "function": st.fixed_dictionaries(
            {"name": st.sampled_from(["read", "edit"]), "arguments": arguments}
        ),
    }
)
message = st.one_of(
    st.fixed_dictionaries({"role": st.sampled_from(["system", "developer"]), "content": contents}),
    st.fixed_dictionaries(
        {"role": st.just("user"), "content": contents},
        optional={"name": st.just("ann")},
    ),
    st.fixed_dictionaries(
        {"role": st.just("assistant"), "content": contents},
        optional={
            "tool_calls": st.lists(tool_call, max_size=3) | st.just("x"),
            "reasoning_content": texts | st.just(1),
            "refusal": st.just("no"),
        },
    ),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "tool_call_id": st.sampled_from(["c1", 4]), "content": contents}
    ),
    st.fixed_dictionaries({"role": st.sampled_from(["function", "robot"]), "content": texts}),
)
# mostly the shapes an agent sends (so most examples are deferred), some of every other
names = {"name": st.sampled_from(["ann", ""])}
plain = st.one_of(
    st.fixed_dictionaries({"role": st.just("system"), "content": texts}),
    st.fixed_dictionaries({"role": st.just("user"), "content": texts}, optional=names),
    st.fixed_dictionaries(
        {
            "role": st.just("assistant"),
            "content": st.none() | texts,
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {
                        "id": st.just("c1"),
                        "function": st.fixed_dictionaries(
                            {
                                "name": st.just("read"),
                                "arguments": arguments.filter(lambda a: a != 3),
                            }
                        ),
                    }
                ),
                max_size=3,
            ),
        },
        optional=names,
    ),
    st.fixed_dictionaries(
        {"role": st.just("tool"), "tool_call_id": st.just("c1"), "content": texts | content_parts}
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(plain | message, max_size=8) | st.lists(plain, min_size=1, max_size=12))
def test_any_messages_parse_as_the_eager_parse_with_its_estimate(messages: list[Any]) -> None:
    body = {"model": "m", "messages": messages}
    reference = outcome(eager, body)
    request = outcome(lambda b: inbound.parse_request(b, {}), body)
    if isinstance(reference, str):
        assert request == reference  # the same refusal, naming the same field
        return
    assert isinstance(request, ChatRequest)
    deferred = messages_digest(request) is not None
    assert tokens.estimate_tokens(request) == tokens.estimate_tokens(reference)
    assert (messages_digest(request) is not None) == deferred  # the estimate built nothing
    read = guardrail_texts.request_slots(request).texts  # what a guardrail reads of it
    assert (messages_digest(request) is not None) == deferred  # nor did the read
    assert read == guardrail_texts.request_slots(reference).texts
    # orjson writes it as the eager one (the response cache's key hashes those bytes)
    assert orjson.dumps(inbound.parse_request(body, {})) == orjson.dumps(reference)
    assert request == reference
    assert request.unmapped == reference.unmapped


@pytest.mark.parametrize("pad", [10, inbound.REMEMBERED_ARGUMENTS_CHARS])
def test_arguments_sent_again_are_read_as_the_first_time_short_ones_remembered(pad: int) -> None:
    """A call's arguments an agent sends again every turn: short ones are remembered
    (not parsed and encoded again), long ones (a file written) are not kept; either way
    the request, its estimate and its guardrail texts are the eager parse's."""
    text = json.dumps({"path": "a.py", "content": "x" * pad})
    body = {
        "model": "m",
        "messages": [
            {"role": "user", "content": "go"},
            {
                "role": "assistant",
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "w", "arguments": text}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": "done"},
        ],
    }
    inbound._sent_text.cache_clear()
    for _ in range(2):
        parsed = inbound.parse_request(copy.deepcopy(body), {})
        eager_parse = eager(copy.deepcopy(body))
        assert parsed == eager_parse
        assert tokens.estimate_tokens(parsed) == tokens.estimate_tokens(eager_parse)
    remembered = inbound._sent_text.cache_info()
    assert (remembered.hits, remembered.currsize) == ((1, 1) if pad == 10 else (0, 0))
