"""Whose token a call to an OAuth server sends, and the ``httpx2.Auth`` that sends it.

The person acting is set where the caller is known (``act_as``: ``/mcp`` from its key's
owner, ``calls.call``, hosted MCP tools, the console from the signed-in person) and read
by the pool when it picks the connection (``principal``), so the pool's functions keep
their signatures. A server in ``service`` mode always uses its service token; one in
``per_user`` mode uses the acting person's, or the service token for a key with no owner
when the server has a pre-registered client with a secret."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextvars import ContextVar

import httpx2

from gateway.base.entries import McpServerEntry
from gateway.mcp.errors import AuthorizationRequired
from gateway.mcp.oauth import tokens

_acting: ContextVar[int | None] = ContextVar("mcp_oauth_acting_user", default=None)


def act_as(user_id: int | None) -> None:
    """Calls from here on in this context are ``user_id``'s (None: nobody's)."""
    _acting.set(user_id)


def principal(entry: McpServerEntry) -> int | None:
    """The user whose token a call to ``entry`` sends; None: the service token."""
    if entry.oauth == "service":
        return None
    user = _acting.get()
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
