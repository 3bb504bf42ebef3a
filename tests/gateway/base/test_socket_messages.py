"""A realtime socket's messages read as they pass (``gateway.base.socket_messages``)."""

from __future__ import annotations

from gateway.base import socket_messages


def test_names_finds_a_quoted_word_in_text_and_bytes() -> None:
    message = '{"type":"response.done","response":{}}'
    assert socket_messages.names(message, "response.done")
    assert socket_messages.names(message.encode(), "response.done")
    assert not socket_messages.names('{"type":"response.done"}', "response")  # a whole string
    assert not socket_messages.names(b'{"type":"error"}', "response.done")


def test_event_is_the_json_object_or_none() -> None:
    assert socket_messages.event(b'{"type": "error", "error": {}}') == {
        "type": "error",
        "error": {},
    }
    assert socket_messages.event("not json") is None
    assert socket_messages.event("[1, 2]") is None  # JSON, not an object
