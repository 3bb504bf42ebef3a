"""The codec declarations (``gateway.codecs.base``): two codecs of one name are refused
when registered."""

from __future__ import annotations

import pytest

from gateway.codecs.base import Codec, register


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
