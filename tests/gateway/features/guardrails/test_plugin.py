"""What the guardrails unit plugs in (``plugin.register``, from its ``apps.py``): the
plane into the pipeline, the Realtime sessions' checks and the MCP guard, each through
``gateway.base.hooks``; the edge finds a session's checks only there."""

from __future__ import annotations

from gateway.base import hooks
from gateway.edge import realtime_socket
from gateway.features.guardrails import plugin


def test_the_unit_registers_its_guards() -> None:
    assert plugin.PLANE in list(hooks.call_guards)
    assert plugin.SESSIONS in list(hooks.session_guards)
    assert plugin.MCP in list(hooks.mcp_guards)


def test_a_session_is_guarded_only_through_the_hook(monkeypatch) -> None:
    begun: list[tuple[object, object, str]] = []

    class Guard:
        def begin(self, key: object, route: object, request_id: str) -> str:
            begun.append((key, route, request_id))
            return "the session's checks"

    monkeypatch.setattr(hooks.session_guards, "_entries", [Guard()])
    assert realtime_socket._guard("key", "route", "req-1") == "the session's checks"
    assert begun == [("key", "route", "req-1")]
    monkeypatch.setattr(hooks.session_guards, "_entries", [])
    assert realtime_socket._guard("key", "route", "req-2") is None  # no unit: unguarded


def test_a_transcription_or_translation_session_names_its_protocol(monkeypatch) -> None:
    """The guardrails learn which messages they will see (they refuse what they cannot
    read); a conversation is asked for as before, for plugins whose ``begin`` has no
    ``protocol``."""
    begun: list[str] = []

    class Guard:
        def begin(self, key: object, route: object, request_id: str, protocol: str = "-") -> str:
            begun.append(protocol)
            return protocol

    monkeypatch.setattr(hooks.session_guards, "_entries", [Guard()])
    for protocol in realtime_socket.GUARDED.values():
        assert realtime_socket._guard("key", "route", "req", protocol) == begun[-1]
    assert begun == ["-", "realtime_transcription", "realtime_translation"]
