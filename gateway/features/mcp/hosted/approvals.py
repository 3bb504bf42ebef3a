"""Approvals of hosted MCP tool calls: honoured only for a request the gateway issued.

The client carries an ``mcp_approval_request`` back to the gateway (in ``input``, or
from a stored response), so the item itself is the caller's to write: a key allowed one
tool could send a request for another tool, or other arguments, approve it, and have the
gateway run it with the server's stored credentials. So the gateway signs what it asks:
the request's id is ``mcpr_`` + a nonce, an expiry and an HMAC (``SECRET_KEY``) over the
virtual key, the server (its label and its URL or registered name), the tool and the
exact arguments text. An approval runs a call only when

- its request's id verifies against the request sent back (nothing in it was changed),
- it has not expired (``TTL_SECONDS`` after it was asked),
- it is the same key's,
- and it was never used before: its nonce is written to the database
  (``McpApprovalUse``, which every worker and instance shares) before the call runs; a
  second use finds it there and is refused.

Anything else is a refusal the caller sees as the call's error item. Only a request that
carries an approval pays the one insert (in a worker thread)."""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.utils.crypto import salted_hmac

from gateway.base import db_work
from gateway.base.entries import KeyEntry
from gateway.base.types import McpItem, McpServer
from gateway.models.mcp import McpApprovalUse

PREFIX = "mcpr_"
TTL_SECONDS = 3600  # how long a client has to answer an approval request
_SALT = "switchyard.mcp.approval"
_NONCE_HEX = 24
_EXPIRY_HEX = 10
_MAC_HEX = 32
_PRUNE_EVERY_SECONDS = 300.0
_pruned_at = 0.0

wall = time.time  # seam for tests: epoch seconds


@dataclass(frozen=True, slots=True)
class Granted:
    """A verified approval request, to be claimed once."""

    nonce: str
    expires: int


def _who(key: KeyEntry | None) -> str:
    if key is None:
        return "-"
    return "master" if key.is_master else f"key:{key.id}"


def _mac(
    nonce: str, expires: int, key: KeyEntry | None, server: McpServer, tool: str, arguments: str
) -> str:
    where = (
        server.url if server.url is not None else f"registered:{server.registered or server.label}"
    )
    fields = [nonce, str(expires), _who(key), server.label, where, tool, arguments]
    mac: str = salted_hmac(_SALT, "\x1f".join(fields), algorithm="sha256").hexdigest()
    return mac[:_MAC_HEX]


def issue(key: KeyEntry | None, server: McpServer, tool: str, arguments: str) -> str:
    """The id of a new approval request for this call."""
    nonce = secrets.token_hex(_NONCE_HEX // 2)
    expires = int(wall()) + TTL_SECONDS
    mac = _mac(nonce, expires, key, server, tool, arguments)
    return f"{PREFIX}{nonce}{expires:0{_EXPIRY_HEX}x}{mac}"


def verify(key: KeyEntry | None, server: McpServer, asked: McpItem) -> Granted | str:
    """The approval request ``asked`` (as the client sent it back) if the gateway issued
    it to this key for this server, tool and arguments and it has not expired; else the
    reason it is refused (safe to show)."""
    token = asked.id.removeprefix(PREFIX)
    if not asked.id.startswith(PREFIX) or len(token) != _NONCE_HEX + _EXPIRY_HEX + _MAC_HEX:
        return "the gateway did not issue this approval request"
    nonce, rest = token[:_NONCE_HEX], token[_NONCE_HEX:]
    try:
        expires = int(rest[:_EXPIRY_HEX], 16)
    except ValueError:
        return "the gateway did not issue this approval request"
    expected = _mac(nonce, expires, key, server, asked.name or "", asked.arguments or "")
    if not hmac.compare_digest(expected, rest[_EXPIRY_HEX:]):
        return (
            "the gateway did not issue this approval request to this key "
            "(or its server, tool or arguments were changed)"
        )
    if expires <= wall():
        return "this approval request has expired; ask again"
    return Granted(nonce, expires)


def _claim(granted: Granted) -> bool:

    global _pruned_at
    now = wall()
    if now - _pruned_at > _PRUNE_EVERY_SECONDS:  # spent approvals past their expiry
        _pruned_at = now
        McpApprovalUse.objects.filter(expires_at__lte=datetime.fromtimestamp(now, UTC)).delete()
    try:
        with transaction.atomic():
            McpApprovalUse.objects.create(
                nonce=granted.nonce, expires_at=datetime.fromtimestamp(granted.expires, UTC)
            )
    except IntegrityError:
        return False
    return True


async def claim(granted: Granted) -> bool:
    """Mark the approval used; False when it was used before (by any worker)."""
    return await db_work.arun(_claim, granted)
