"""Who is calling an inference API: the key of a request's headers (OpenAI's and
Anthropic's ``Authorization: Bearer``, ``x-api-key``, ``api-key``; Google's is found by
the edge and passed as ``token``), looked up in the registry snapshot (no query), as a
``core.call.Caller``. Every way in asks here: the edge's HTTP handlers, the Realtime
relay and the Responses WebSocket (a feature's). A caller whose key is missing or
unknown carries the reason (``Caller.key_error``); a revoked or expired key is refused
by ``core.call.key_refusal``. An agent's token (``access.delegation``: an A2A agent acting
for the caller who started it) resolves to that caller's key, in the agent's run, on the
surfaces it was minted for (``surface``: ``models`` for the inference APIs)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.access import delegation, registry
from gateway.core.call import Caller


def header_map(scope: Mapping[str, Any]) -> dict[str, str]:
    """An ASGI request's headers by lower-case name."""
    return {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}


def bearer_token(headers: Mapping[str, str]) -> str:
    """The key in the OpenAI or Anthropic headers (``Authorization: Bearer``,
    ``x-api-key``, ``api-key``), or ''."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return (headers.get("x-api-key") or headers.get("api-key") or "").strip()


def resolve_caller(
    headers: Mapping[str, str], token: str | None = None, surface: str = delegation.MODELS
) -> Caller:
    """The caller of ``token`` (default: the key in the OpenAI/Anthropic headers), its
    key looked up in the registry snapshot (no query)."""
    token = bearer_token(headers) if token is None else token
    if token and delegation.is_agent_token(token):
        checked = delegation.check(token, surface)
        caller = Caller(key=checked.key, user_agent=headers.get("user-agent", ""))
        caller.key_error = checked.problem
        return caller
    key = registry.current().key(token) if token else None
    caller = Caller(key=key, user_agent=headers.get("user-agent", ""))
    if not token:
        caller.key_error = (
            "no API key given: send it as 'Authorization: Bearer <key>', 'x-api-key', "
            "'x-goog-api-key' or '?key='"
        )
    elif key is None:
        caller.key_error = "invalid API key"
    return caller


async def resolve_fresh_caller(
    headers: Mapping[str, str], token: str | None = None, surface: str = delegation.MODELS
) -> Caller:
    """``resolve_caller``, looking once more after a registry check when the key is
    unknown here: it may have been created a moment ago in another process."""
    caller = resolve_caller(headers, token, surface)
    if caller.key is None and (token or bearer_token(headers)):
        # look again whatever the check found: the watcher may have installed the
        # snapshot with the key while this request waited
        await registry.refresh_on_miss()
        caller = resolve_caller(headers, token, surface)
    return caller
