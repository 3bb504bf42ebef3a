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
