"""The literal secrets of the registered MCP servers (bearer tokens, OAuth client
secrets and the OAuth tokens this process holds, header and env values, references resolved) with the journal's configured ones: what messages, journal
bodies and spans must never carry."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable

from gateway.access import registry
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.telemetry.redaction import configured_secrets

_held_elsewhere: list[Callable[[], Iterable[str]]] = []


def also_redact(source: Callable[[], Iterable[str]]) -> None:
    """Redact what ``source()`` holds too (the OAuth tokens held in memory)."""
    if source not in _held_elsewhere:
        _held_elsewhere.append(source)


def known_secrets() -> list[str]:
    """Every literal secret of the registered MCP servers and the configured ones, for
    redaction of messages and journal bodies."""
    found = set(configured_secrets())
    for entry in registry.current().mcp_servers.values():
        values = [
            entry.bearer,
            entry.oauth_client_secret,
            *(v for _, v in entry.headers),
            *(v for _, v in entry.env),
        ]
        for value in values:
            with contextlib.suppress(Exception):
                value = resolve_secret(value)
            if value and len(value) >= 6:
                found.add(value)
    for source in _held_elsewhere:
        found.update(t for t in source() if len(t) >= 6)
    return sorted(found, key=len, reverse=True)
