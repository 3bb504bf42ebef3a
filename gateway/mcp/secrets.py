"""The literal secrets of the registered MCP servers (bearer tokens, header and env
values, references resolved) with the journal's configured ones: what messages, journal
bodies and spans must never carry."""

from __future__ import annotations

import contextlib

from gateway.base.secrets.secret_refs import resolve_secret
from gateway.policy import registry
from gateway.telemetry.redaction import configured_secrets


def known_secrets() -> list[str]:
    """Every literal secret of the registered MCP servers and the configured ones, for
    redaction of messages and journal bodies."""
    found = set(configured_secrets())
    for entry in registry.current().mcp_servers.values():
        values = [entry.bearer, *(v for _, v in entry.headers), *(v for _, v in entry.env)]
        for value in values:
            with contextlib.suppress(Exception):
                value = resolve_secret(value)
            if value and len(value) >= 6:
                found.add(value)
    return sorted(found, key=len, reverse=True)
