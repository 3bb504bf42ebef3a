"""Responses compaction (``gateway.features.responses.compaction``): the compaction object
validates and opens back into a message; an altered item is refused."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.base import errors
from gateway.features.responses import compaction
from gateway.features.responses.items import normalize_input
from tests.openresponses import assert_valid

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}
# Request bodies covering the settings a response object echoes.
REQUESTS: dict[str, dict[str, Any]] = {
    "bare": {"input": "hi"},
    "tools": {
        "input": "weather?",
        "tools": [WEATHER],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "parallel_tool_calls": False,
    },
    "settings": {
        "input": [{"type": "message", "role": "user", "content": "hi"}],
        "instructions": "Be brief.",
        "temperature": 0.2,
        "top_p": 0.9,
        "max_output_tokens": 64,
        "reasoning": {"effort": "low"},
        "metadata": {"k": "v"},
        "store": False,
        "safety_identifier": "user-42",
        "prompt_cache_key": "session-1",
        "presence_penalty": 0,
        "frequency_penalty": 0,
        "top_logprobs": 0,
        "truncation": "disabled",
        "service_tier": "auto",
        "text": {"format": {"type": "json_object"}},
    },
    "assistant phase": {  # assistant history with phase labels (added 2026-04-24)
        "input": [
            {"type": "message", "role": "assistant", "phase": "commentary", "content": "x"},
            {"type": "message", "role": "user", "content": "again"},
        ]
    },
}


def test_the_compaction_object_validates_and_opens_back_into_a_message() -> None:
    items = normalize_input(
        [
            {"type": "message", "role": "user", "content": "Launch on Tuesday."},
            {"type": "message", "role": "assistant", "content": "Understood."},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "done"},
        ]
    )
    usage = {
        "input_tokens": 9,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 4,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 13,
    }
    body = compaction.resource(items, "Launch is Tuesday; f ran.", usage)
    assert_valid(body, "CompactResource")  # (the SDK reads it in tests/integration)
    user, sealed = body["output"]
    assert user["role"] == "user" and user["content"][0]["text"] == "Launch on Tuesday."
    assert sealed["type"] == "compaction" and "Tuesday" not in sealed["encrypted_content"]
    # sent back as the next input: the summary is read again, the user message stays
    opened = compaction.open_items([*body["output"], {"role": "user", "content": "next"}])
    assert opened[0] == user
    assert opened[1]["role"] == "user" and opened[1]["content"][0]["text"].endswith(
        "Launch is Tuesday; f ran."
    )
    # a later compaction does not keep the opened summary as a user message
    kept = compaction.kept_messages(normalize_input(opened))
    assert [m["content"][0]["text"] for m in kept] == ["Launch on Tuesday.", "next"]


def test_an_altered_compaction_item_is_refused() -> None:
    forged = {"type": "compaction", "encrypted_content": compaction.PREFIX + "not-sealed"}
    with pytest.raises(errors.InvalidRequest) as caught:
        compaction.open_items([forged])
    assert caught.value.param == "input[0].encrypted_content"
