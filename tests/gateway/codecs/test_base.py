"""The codec declarations (``gateway.codecs.base``): two codecs of one name are refused
when registered."""

from __future__ import annotations

import pytest

from gateway.codecs.base import Codec, Target, register


def test_two_codecs_of_one_name_are_refused_at_registration() -> None:
    registry: dict[str, Codec] = {}
    first = Codec("fmt", "Format", upstream=None)
    assert register(registry, first) is first
    assert register(registry, first) is first  # the same object again: no conflict
    with pytest.raises(ValueError, match="two codecs are named 'fmt'"):
        register(registry, Codec("fmt", "Another format"))
    assert registry == {"fmt": first}


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"a": 1}, ({"a": 1}, None)),
        ('{"a": 1}', ({"a": 1}, None)),
        ("", ({}, None)),
        (None, ({}, None)),
        ('{"a": ', ({}, '{"a": ')),  # cut off: kept as sent
        ("[1]", ({}, "[1]")),  # JSON, but no object
    ],
)
def test_tool_call_arguments_keeps_what_is_no_object_as_text(raw, expected) -> None:
    from gateway.codecs.base import tool_call_arguments

    assert tool_call_arguments(raw) == expected


def test_a_tool_call_is_written_as_its_kept_text_or_its_object() -> None:
    from gateway.base.types import ToolCall
    from gateway.codecs.base import chat_tool_calls, tool_call_text

    whole = ToolCall(id="c1", name="f", arguments={"a": 1})
    cut = ToolCall(id="c2", name="g", arguments={}, raw_arguments='{"a": ')
    assert tool_call_text(whole) == '{"a":1}'
    assert tool_call_text(cut) == '{"a": '
    assert chat_tool_calls([whole, cut]) == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": '{"a": '}},
    ]


def test_a_turn_of_the_last_turns_role_joins_it() -> None:
    from gateway.codecs.base import add_turn

    turns: list[dict[str, object]] = []
    add_turn(turns, "user", [1])
    add_turn(turns, "user", [2])
    add_turn(turns, "model", [3], key="parts")
    assert turns == [{"role": "user", "content": [1, 2]}, {"role": "model", "parts": [3]}]


def test_opening_a_part_stops_the_open_one_and_more_of_its_kind_continues_it() -> None:
    from gateway.base.types import PartStart, PartStop
    from gateway.codecs.base import OnePartOpen

    parts = OnePartOpen()
    assert parts.close() == []
    assert parts.go_on("text") == [PartStart(0, "text")]
    assert parts.go_on("text") == []
    assert parts.open("tool_call", tool_id="c", tool_name="f") == [
        PartStop(0),
        PartStart(1, "tool_call", tool_id="c", tool_name="f"),
    ]
    assert (parts.index, parts.kind) == (1, "tool_call")
    assert parts.close() == [PartStop(1)]
    assert parts.kind is None


@pytest.mark.parametrize(
    ("asked", "ceiling", "sent"),
    [(None, 100, None), (50, 100, 50), (500, 100, 100), (500, None, 500), (0, 100, 0)],
)
def test_max_tokens_are_held_to_the_models_ceiling(asked, ceiling, sent) -> None:
    assert Target(model="m", max_output_tokens=ceiling).capped(asked) == sent
