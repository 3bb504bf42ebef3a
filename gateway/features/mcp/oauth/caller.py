"""Whose token a call to an OAuth server sends, and the ``httpx2.Auth`` that sends it.

The person acting is set where the caller is known (``act_for``: ``/mcp``,
``calls.call``, hosted MCP tools, from the key; ``act_as``: the console and ``/api`` from
the signed-in person) and read by the pool when it picks the connection (``principal``),
so the pool's functions keep their signatures. A server in ``service`` mode always uses
its service token; one in ``per_user`` mode uses the acting person's, or the service
token for a key with no owner when the server has a pre-registered client with a secret.

Identity is the holder: a key acts as its owner upstream only when the owner minted it
(``KeyEntry.own_identity``). A key someone minted "for" another person (an editor for a
member of their team) carries no one's own tokens: a ``per_user`` server answers it as it
answers a person who never connected (``AuthorizationRequired``), never with the owner's
token, and never with the service token either."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextvars import ContextVar

import httpx2

from gateway.base.entries import KeyEntry, McpServerEntry, own_identity
from gateway.features.mcp.errors import AuthorizationRequired
from gateway.features.mcp.oauth import tokens


class _NotTheirs:
    """Acting for a key whose owner did not mint it: nobody's own authorization."""


NOT_THEIRS = _NotTheirs()
NOT_CONNECTED = (
    "this key has no connected account (a person's own authorization goes only with keys "
    "they minted themselves, never with a key someone else minted for them)"
)

_acting: ContextVar[int | _NotTheirs | None] = ContextVar("mcp_oauth_acting_user", default=None)


def act_as(user_id: int | None) -> None:
    """Calls from here on in this context are ``user_id``'s (None: nobody's): for a person
    acting themselves (a console session)."""
    _acting.set(user_id)


def act_for(key: KeyEntry) -> None:
    """Calls from here on in this context are ``key``'s: its owner's when the owner minted
    it (``KeyEntry.own_identity``); nobody's own when someone else did; nobody's (the
    service token where there is one) for a key without an owner, the master key's
    included."""
    act_for_holder(key.user_id, key.minted_by)


def act_for_holder(owner: int | None, holder: int | None) -> None:
    """Calls from here on act for ``owner`` (None: nobody) with a credential ``holder``
    holds: the owner's own authorization only when the holder is the owner."""
    if owner is None:
        _acting.set(None)
    elif own_identity(owner, holder):
        _acting.set(owner)
    else:
        _acting.set(NOT_THEIRS)


def principal(entry: McpServerEntry) -> int | None:
    """The user whose token a call to ``entry`` sends; None: the service token."""
    if entry.oauth == "service":
        return None
    user = _acting.get()
    if isinstance(user, _NotTheirs):
        raise AuthorizationRequired(entry.name, NOT_CONNECTED)
    if user is not None:
        return user
    if entry.oauth_client_id and entry.oauth_client_secret:
        return None
    raise AuthorizationRequired(
        entry.name, "it needs each person's own authorization and this call has no person"
    )


class Bearer(httpx2.Auth):
    """Sends the held token of (server, user); a 401 reads it again (perhaps refreshed)
    and tries once more."""

    def __init__(self, entry: McpServerEntry, user_id: int | None) -> None:
        self.entry = entry
        self.user_id = user_id
        self.generation = tokens.generation(entry.name, user_id)

    def current(self) -> bool:
        """False once the person connected again or disconnected: replace the connection."""
        return self.generation == tokens.generation(self.entry.name, self.user_id)

    async def ready(self) -> None:
        """Raise ``AuthorizationRequired`` now when there is no usable token."""
        await tokens.bearer(self.entry, self.user_id)

    async def async_auth_flow(
        self, request: httpx2.Request
    ) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        token = await tokens.bearer(self.entry, self.user_id)
        request.headers["Authorization"] = f"Bearer {token}"
        response = yield request
        if response.status_code == 401:
            tokens.expire(self.entry.name, self.user_id, token)
            token = await tokens.bearer(self.entry, self.user_id)
            request.headers["Authorization"] = f"Bearer {token}"
            yield request
