"""``/v1/realtime``: the Realtime API's WebSocket, relayed to the route's upstream
(``gateway.core.realtime``). A raw ASGI application, so the handshake is decided before
anything is accepted.

The paths: ``/v1/realtime`` (a conversation, or with ``&intent=transcription`` a
transcription session) and ``/v1/realtime/translations`` (a translation session), each
also without ``/v1`` and under ``/openai/v1`` (see ``gateway.core.realtime``).

The handshake: ``?model=<route>`` (``&intent=transcription`` passed on), the virtual
key in ``Authorization: Bearer``, ``api-key`` / ``x-api-key``, or, from a browser, the
subprotocols ``realtime`` and ``openai-insecure-api-key.<key>`` (the server then
chooses ``realtime``; the key's subprotocol is never echoed). In place of the key, a
client secret the gateway sealed (``gateway.core.realtime_secrets``) opens the session
it was made for. The beta interface's
``OpenAI-Beta: realtime=v1`` header (or ``openai-beta.realtime-v1`` subprotocol) is
passed on to the upstream. A browser (any request
with an ``Origin``) must come from an allowed origin, as for the console's sockets
(``gateway.edge.ws_origin``: the gateway's own, or ``CSRF_TRUSTED_ORIGINS``); clients
without an ``Origin`` (SDKs, servers) are not browsers and are not checked; a foreign
origin is refused before the socket is accepted (an HTTP 403 when the server supports
denial responses, uvicorn; else a close with 4403). Any other refusal (a bad key, a
model the key may not use or that does not exist, a rate limit, a spent budget) is
answered as OpenAI's server answers it: the socket is accepted, gets the Realtime
API's ``error`` event (``invalid_request_error`` / ``authentication_error`` /
``permission_error`` / ``rate_limit_error``, with its code and message) and is closed
with 1008 (1013 for a rate limit, which a client may retry).

Once the upstream's socket is open the client's is accepted and the events go both
ways as they come, one at a time: a frame is read from one side only after the last
one was written to the other, so what waits is bounded by the two servers' own queues
(the upstream side reads ahead at most ``UPSTREAM_READ_AHEAD`` frames) and a slow
reader slows its peer instead of filling memory. A client frame over the request body
limit gets an ``error`` event and is not relayed. If no upstream can be reached the
socket is accepted, gets an ``error`` event and is closed with 1011. After each
``response.done`` the response's cost is charged to the key's budget
(``Session.charge``); when that spends it, the client gets the budget's ``error`` event
(``budget_exceeded``) and the session is closed with 1008. Guardrails that apply
(``hooks.session_guards``: the guardrails feature's) check the text events both ways; a
refusal gets the ``error`` event naming the guardrail and the session is closed with 1008.

A session counts as a request in flight: a drain closes it (code 1012, after an
``error`` event) at once when no response is being generated, else when the current
one is done or the grace period ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Any
from urllib.parse import parse_qsl

import orjson

from gateway import codecs
from gateway.base import hooks, lifecycle
from gateway.base.asgi import Receive, Scope, Send
from gateway.base.entries import KeyEntry
from gateway.base.errors import GatewayError, PermissionDenied, ShuttingDown
from gateway.core import realtime, realtime_secrets, session_relay
from gateway.core.call import Call, Caller
from gateway.core.realtime import Refused
from gateway.core.realtime_secrets import Grant
from gateway.edge.ws_origin import origin_allowed
from gateway.web.callers import header_map, resolve_fresh_caller
from gateway.web.origins import deny_handshake

log = logging.getLogger(__name__)

# ASGI's callables (the messages are dicts of the spec's keys)

REALTIME_PATHS = ("/v1/realtime", "/realtime", "/openai/v1/realtime")
# a translation session's socket (OpenAI's SDK: ``client.realtime.translations.connect``)
TRANSLATION_PATHS = tuple(f"{path}/translations" for path in REALTIME_PATHS)
PATHS = REALTIME_PATHS + TRANSLATION_PATHS
KEY_SUBPROTOCOL = "openai-insecure-api-key."
BETA_SUBPROTOCOL = "openai-beta.realtime-v1"
GOING_AWAY = 1012  # service restart: the client reconnects (to another worker)
BUDGET_SPENT = 1008  # policy violation: the key's budget ran out during the session
REFUSED = 1008  # policy violation: a bad key, a model the key may not use, ...
TRY_AGAIN_LATER = 1013  # a rate limit: the client may connect again later


def _subprotocols(scope: Scope) -> list[str]:
    return [str(p) for p in scope.get("subprotocols") or ()]


def key_token(headers: dict[str, str], subprotocols: list[str]) -> str:
    """The virtual key: the headers' (as on every endpoint), else the browser's
    ``openai-insecure-api-key.<key>`` subprotocol."""
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    token = (headers.get("api-key") or headers.get("x-api-key") or "").strip()
    if token:
        return token
    for protocol in subprotocols:
        if protocol.startswith(KEY_SUBPROTOCOL):
            return protocol[len(KEY_SUBPROTOCOL) :]
    return ""


def chosen_subprotocol(subprotocols: list[str]) -> str | None:
    """``realtime`` when offered (what OpenAI's server answers); never the key's."""
    return "realtime" if "realtime" in subprotocols else None


def error_event(error: GatewayError) -> str:
    """The Realtime API's ``error`` event for ``error``."""
    body = {**codecs.client("openai").render_error(error)["error"], "event_id": None}
    event_id = "event_" + secrets.token_hex(11)  # a server event's id, as OpenAI's
    return orjson.dumps({"type": "error", "event_id": event_id, "error": body}).decode()


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application of the realtime paths."""
    if not await realtime.client_connected(receive):
        return
    headers = header_map(scope)
    subprotocols = _subprotocols(scope)
    if BETA_SUBPROTOCOL in subprotocols and "openai-beta" not in headers:
        headers["openai-beta"] = "realtime=v1"  # a browser's way to ask for the beta API
    query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
    token = key_token(headers, subprotocols)
    grant: Grant | None = None
    if realtime_secrets.is_secret(token):  # the gateway's client secret (a browser's)
        grant = realtime_secrets.grant_of(token)
        caller = Caller(key=grant.key if grant else None, user_agent=headers.get("user-agent", ""))
        if grant is None:
            caller.key_error = "invalid or expired client secret"
    else:
        caller = await resolve_fresh_caller(headers, token)
    try:
        call, key = realtime.authorize(caller)
    except Refused as refused:
        await _deny(scope, send, refused, subprotocols)
        return
    if "origin" in headers and not origin_allowed(scope):
        log.warning("refused a realtime socket from origin %r", headers["origin"][:200])
        await _deny_origin(
            scope, send, Refused(call, PermissionDenied("this origin may not connect"))
        )
        return
    if lifecycle.closing():
        error = ShuttingDown("this gateway instance is shutting down; reconnect")
        await _deny(scope, send, Refused(call, error), subprotocols)
        return
    with lifecycle.in_flight():
        await _serve(scope, receive, send, call, key, query, headers, subprotocols, grant)


async def _serve(
    scope: Scope,
    receive: Receive,
    send: Send,
    call: Call,
    key: KeyEntry,
    query: dict[str, str],
    headers: dict[str, str],
    subprotocols: list[str],
    grant: Grant | None = None,
) -> None:
    accept = {"type": "websocket.accept", "subprotocol": chosen_subprotocol(subprotocols)}
    translation = scope["path"] in TRANSLATION_PATHS
    try:
        session = await realtime.open_session(call, key, query, headers, translation, grant)
    except Refused as refused:
        await _deny(scope, send, refused, subprotocols)
        return
    except GatewayError as error:  # no upstream could be reached: say so, then close
        call.finish(status=error.status if error.status >= 500 else 502, error=error)
        await send(accept)
        await send({"type": "websocket.send", "text": error_event(error)})
        await send({"type": "websocket.close", "code": 1011, "reason": "upstream unavailable"})
        return
    except asyncio.CancelledError:
        call.finish(status=499, error=GatewayError("client disconnected"), disconnected=True)
        raise
    session.guard = _guard(key, session.route, call.caller.request_id, GUARDED[session.kind])
    try:
        await send(accept)
    except Exception:  # the client left while the upstream connected
        await session.upstream.close()
        session.finish(close_code=1006, closed_by="client")
        return
    await session_relay.relay(session, receive, send, REALTIME)


# the guardrails' name of each session's messages (``hooks.SessionGuard.begin``)
GUARDED = {
    "realtime": "realtime",
    "transcription": "realtime_transcription",
    "translation": "realtime_translation",
}


def _guard(
    key: Any, route: Any, request_id: str, protocol: str = "realtime"
) -> hooks.SessionGuardRun | None:
    """The session's guardrails (``hooks.session_guards``), or None. A conversation's
    are asked for as before there were others (a plugin's ``begin`` may not take
    ``protocol``)."""
    for guards in hooks.session_guards:
        if protocol == "realtime":
            run = guards.begin(key, route, request_id)
        else:
            run = guards.begin(key, route, request_id, protocol)
        if run is not None:
            return run
    return None


class _Realtime:
    """The Realtime API's side of the relay (``session_relay``): an ``error`` event for
    an oversized or refused client event (dropped, as OpenAI's server answers an invalid
    one) and before the gateway closes a session."""

    guardrail_close = REFUSED
    budget_close = BUDGET_SPENT

    async def oversized(self, send: Send, limit: int) -> bool:
        error = GatewayError(f"the event exceeds the limit of {limit} bytes", status=413)
        error.kind = "invalid_request_error"
        await send({"type": "websocket.send", "text": error_event(error)})
        return False

    async def refused(self, send: Send, error: GatewayError) -> None:
        await send({"type": "websocket.send", "text": error_event(error)})

    async def farewell(
        self, send: Send, ending: session_relay.Ending, ends: session_relay.Ends
    ) -> tuple[int, str]:
        if ending == "upstream":  # the upstream ended the session: pass its code on
            code, reason = session_relay.upstream_close(ends)
            return code, reason[:120]
        if ending == "guardrail":  # a guardrail refused: say which, end it
            error: GatewayError = ends["guardrail"]
            code, reason = REFUSED, "guardrail"
        elif ending == "budget":  # the key's budget is spent: say so, end it
            error, code, reason = ends["budget"], BUDGET_SPENT, "budget exhausted"
        else:  # a restart (a drain, a cut)
            error = ShuttingDown("this gateway instance is restarting; reconnect")
            code, reason = GOING_AWAY, "server restarting"
        with contextlib.suppress(Exception):
            await send({"type": "websocket.send", "text": error_event(error)})
        return code, reason


REALTIME = _Realtime()


def refusal_close_code(error: GatewayError) -> int:
    """The close code after a refusal's ``error`` event: 1013 (try again later) for a
    rate limit or a server going away, which a client may retry; else 1008 (policy
    violation: a bad key, a model the key may not use, a spent budget)."""
    if error.status == 503 or (error.status == 429 and error.code != "budget_exceeded"):
        return TRY_AGAIN_LATER
    return REFUSED


async def _deny(scope: Scope, send: Send, refused: Refused, subprotocols: list[str]) -> None:
    """Refuse the session as OpenAI's server does: the socket is accepted, gets the
    Realtime API's ``error`` event (the error's type, code, message and param) and is
    closed (``refusal_close_code``). Journaled with the error's HTTP status."""
    refused.call.error_reply(refused.error)  # the journal row
    accept = {"type": "websocket.accept", "subprotocol": chosen_subprotocol(subprotocols)}
    with contextlib.suppress(Exception):  # the client may be gone already
        await send(accept)
        await send({"type": "websocket.send", "text": error_event(refused.error)})
        code = refusal_close_code(refused.error)
        reason = refused.error.kind[:120]
        await send({"type": "websocket.close", "code": code, "reason": reason})


async def _deny_origin(scope: Scope, send: Send, refused: Refused) -> None:
    """Refuse a browser from a foreign origin before accepting: the error as an HTTP
    answer when the server can send one, else a close with 4403. Journaled."""
    reply = refused.call.error_reply(refused.error)
    await deny_handshake(scope, send, reply, 4000 + reply.status)
