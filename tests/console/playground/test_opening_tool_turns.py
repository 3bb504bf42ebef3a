"""Tool turns in the opening conversation (a replayed request's): an assistant message's
tool calls and the tool messages answering them are checked as both APIs would, sent
as each dialect's own tool calls and results, and a conversation may end in tool
results, which the models then answer."""

from __future__ import annotations

import orjson
import pytest

from console.playground import spec as specs
from console.playground.replay import prefill_from_log
from console.playground.views import split_prompt

CALL = {"id": "c1", "name": "wx", "arguments": '{"city":"Oslo"}'}
OPENING = [
    {"role": "user", "content": "Weather in Oslo?"},
    {"role": "assistant", "content": "", "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "rain", "is_error": True},
]


def test_a_conversation_may_end_in_tool_results() -> None:
    assert specs.parse_messages(OPENING) == OPENING
    assert specs.opening_text(OPENING) == "[tool result c1: rain]"
    assert specs.opening_text(OPENING[:1]) == "Weather in Oslo?"


def test_arguments_given_as_an_object_or_in_openai_form_are_kept_as_json_text() -> None:
    messages = [
        {"role": "user", "content": "q"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "name": "wx", "arguments": {"city": "Oslo"}},
                {"id": "c2", "type": "function", "function": {"name": "tz", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c2", "content": "CET"},
        {"role": "tool", "tool_call_id": "c1", "content": "rain"},
    ]
    parsed = specs.parse_messages(messages)
    assert parsed[1] == {
        "role": "assistant",
        "content": "",
        "tool_calls": [
            {"id": "c1", "name": "wx", "arguments": '{"city":"Oslo"}'},
            {"id": "c2", "name": "tz", "arguments": "{}"},
        ],
    }


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        (OPENING[:2], r"messages\[1\]: every tool call needs a tool result .*missing: wx"),
        (
            [*OPENING[:2], {"role": "user", "content": "So?"}],
            r"messages\[1\]: every tool call needs a tool result",
        ),
        (
            [OPENING[0], {"role": "tool", "tool_call_id": "c1", "content": "x"}],
            r"messages\[1\]: tool result 'c1' answers no call",
        ),
        ([*OPENING, OPENING[2]], r"messages\[3\]: tool result 'c1' answers no call"),
        (
            [OPENING[0], {"role": "assistant", "content": "", "tool_calls": [{"name": "wx"}]}],
            r"tool_calls\[0\] needs an id",
        ),
        ([OPENING[0], {"role": "tool", "content": "x"}], "needs the tool_call_id"),
        (
            [{"role": "user", "content": "q", "tool_calls": [CALL]}],
            "only assistant messages carry",
        ),
    ],
)
def test_tool_turns_that_no_api_takes_are_refused(messages: list, message: str) -> None:
    with pytest.raises(specs.SpecError, match=message):
        specs.parse_messages(messages)


def test_a_tool_error_stays_one_in_the_anthropic_body() -> None:
    body = specs.build_body("anthropic", "r", "", OPENING, specs.Params(), [])
    assert body["messages"][-1] == {
        "role": "user",
        "content": [
            {
                "type": "tool_result",
                "tool_use_id": "c1",
                "content": [{"type": "text", "text": "rain"}],
                "is_error": True,
            }
        ],
    }
    chat = specs.build_body("openai", "r", "", OPENING, specs.Params(), [])
    assert chat["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": "rain"}


def test_the_page_shows_no_prompt_after_tool_results() -> None:
    assert split_prompt(OPENING) == (OPENING, "")
    assert split_prompt([*OPENING, {"role": "user", "content": "So?"}]) == (OPENING, "So?")


def replay(body: dict) -> list[dict]:
    prefill = prefill_from_log("smart", "openai", "req-1", orjson.dumps(body).decode())
    assert "replay_error" not in prefill
    return prefill["messages"]


def test_a_logged_call_or_result_without_its_other_half_replays_as_text() -> None:
    """A log may keep a conversation the APIs would now refuse (an unanswered call, a
    result whose call was cut off): those halves are written out, the rest stays."""
    call = {"id": "c9", "type": "function", "function": {"name": "ls", "arguments": "{}"}}
    messages = replay(
        {
            "model": "smart",
            "messages": [
                {"role": "tool", "tool_call_id": "c0", "content": "old"},
                {"role": "user", "content": "Go"},
                {"role": "assistant", "content": "Looking.", "tool_calls": [call]},
                {"role": "user", "content": "Never mind."},
            ],
        }
    )
    assert messages == [
        {"role": "user", "content": "[tool result: old]\n\nGo"},
        {"role": "assistant", "content": "Looking.\n[called ls({})]"},
        {"role": "user", "content": "Never mind."},
    ]
    specs.parse_messages(messages)
