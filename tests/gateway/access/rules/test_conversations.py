"""Stored state as a resource (``gateway.access.rules.conversations``): a conversation, a
stored or background response and a Gemini interaction belong to the key that created
them; any other key, the master key included, is told there is no such thing."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.access.authorization import decide
from gateway.base.entries import MASTER, KeyEntry

ACTIONS = [
    ("conversation.use", "no such conversation"),
    ("response.use", "no such response"),
    ("interaction.use", "no such interaction"),
]


def key(key_id: int) -> KeyEntry:
    return KeyEntry(key_id, f"k{key_id}", "sy-k", None, None, None, None, "total", None, False)


@pytest.mark.parametrize(("action", "refusal"), ACTIONS)
def test_only_the_creating_key_uses_it(action: str, refusal: str) -> None:
    row = SimpleNamespace(key_id=7)
    assert decide(key(7), action, row)
    other = decide(key(8), action, row)
    assert not other and other.reason == refusal  # as an unknown id: it is not theirs


@pytest.mark.parametrize(("action", "refusal"), ACTIONS)
def test_the_master_keys_rows_are_its_own_not_everyones(action: str, refusal: str) -> None:
    assert decide(MASTER, action, SimpleNamespace(key_id=None))
    assert not decide(MASTER, action, SimpleNamespace(key_id=7))
    assert not decide(key(7), action, SimpleNamespace(key_id=None))


@pytest.mark.parametrize(("action", "refusal"), ACTIONS)
def test_a_console_user_or_a_row_without_an_owner_is_refused(action: str, refusal: str) -> None:
    assert not decide(SimpleNamespace(id=7), action, SimpleNamespace(key_id=7))  # not a key
    assert not decide(key(7), action, object())  # a row that names no key
