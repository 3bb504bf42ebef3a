"""The MCP unit's OAuth client machinery lent to other upstreams (``hooks.upstream_oauth``:
an A2A agent with ``auth`` "oauth", an ``OAuthTarget``): the same discovery, clients,
connect flow, sealed rows and refresh as an MCP server's ``per_user`` OAuth, and the same
rule of whose token goes (``caller``): a person's own only for a credential they hold
(``entries.own_identity``), never for a key someone else minted for them, and never a
service token (there is none for these targets). Registered from the unit's
``plugin.register``; the SDK and Authlib are imported on first use."""

from __future__ import annotations

from typing import Any

from gateway.base import hooks
from gateway.base.entries import OAuthTarget, own_identity

NO_PERSON = "it needs each person's own authorization and this call has no person"


class Shared:
    async def bearer(self, target: OAuthTarget, owner: int | None, holder: int | None) -> str:
        from gateway.features.mcp.errors import AuthorizationRequired, ServerUnavailable
        from gateway.features.mcp.oauth import caller, tokens

        if owner is None:
            raise hooks.OAuthRequired(target, NO_PERSON)
        if not own_identity(owner, holder):
            raise hooks.OAuthRequired(target, caller.NOT_CONNECTED)
        try:
            return await tokens.bearer(target, owner)
        except AuthorizationRequired as exc:
            raise hooks.OAuthRequired(target, exc.why) from None
        except ServerUnavailable as exc:
            raise hooks.OAuthUnavailable(str(exc)) from None

    def expire(self, target: OAuthTarget, user_id: int, token: str) -> None:
        from gateway.features.mcp.oauth import targets, tokens

        tokens.expire(targets.cache_name(target), user_id, token)

    async def connect(self, target: OAuthTarget, user_id: int, redirect_uri: str) -> str:
        from gateway.features.mcp.oauth import flow

        try:
            return await flow.connect_target(target, user_id, redirect_uri)
        except flow.FlowError as exc:
            raise ValueError(str(exc)) from None

    async def disconnect(self, target: OAuthTarget, user_id: int) -> bool:
        from gateway.features.mcp.oauth import flow

        return await flow.disconnect_target(target, user_id)

    def connected(self, kind: str, user_id: int) -> dict[int, Any]:
        from gateway.features.mcp.oauth import store, targets

        return store.connected(targets.FIELD[kind], user_id)

    def redirect_uri(self, request: Any) -> str:
        from gateway.features.mcp.oauth import views

        return views.redirect_uri(request)


SHARED = Shared()
