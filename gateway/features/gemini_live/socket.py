"""The Live API's socket (``plugin.PATHS``): one session relayed to a deployment of the
route its ``setup`` names. A raw ASGI application.

The handshake: the virtual key where google-genai puts the Google key
(``x-goog-api-key``, or ``?key=``; ``Authorization: Bearer`` from a Vertex AI client).
A browser (any request with an ``Origin``) must come from an allowed origin
(``gateway.web.origins``): a foreign one is refused before the socket is accepted (an
HTTP 403 when the server supports denial responses, else a close with 4403). Otherwise
the socket is accepted and its first message must be ``setup`` (within
``SETUP_SECONDS``); then the key, the route ``setup.model`` names, the key's permission
for it, the session's tags, its rpm and budget (``limits.admit``: a budget hold while
the session lasts) are decided, as for the Realtime relay (``gateway.core.realtime``).
A refusal is answered as Google's server answers it: the socket is closed with a code
and a reason, which google-genai raises as an ``APIError`` whose ``code`` is the close
code (``close_for``: 1007 for a bad key or an invalid setup, 1008 for a model that does
not exist or that the key may not use, 1011 for a rate limit or a spent budget, 1012 for
a server going away).

The connect is routed as an HTTP stream is (``routing.run``): the route's strategy picks
among its deployments with a Live socket (``live_target``), the ``setup`` goes to it
naming the deployment's model, and the attempt succeeds on its first answer
(``setupComplete``); a refused socket, or one closed before answering, is a failed
request of its deployment (cooldowns), retried on its siblings and the route's
fallbacks. When every one failed the client's socket is closed with the last
upstream's code and reason (1011 when none was reached). The caller's key never goes
upstream; the provider's credentials never reach the caller or the journal.

Then the messages go both ways as they come, one at a time (a slow reader slows its
peer; the upstream side reads ahead at most ``realtime.UPSTREAM_READ_AHEAD`` frames). A
client frame over the request body limit closes the session (1009). As each turn ends
its cost is charged to the key's budget; when that spends it the session is closed
(1011, "budget exhausted"). Guardrails that apply (``hooks.session_guards``, asked for
the ``gemini_live`` protocol) check the text both ways; a refusal closes the session
(1008, naming the guardrail). A drain sends ``goAway`` and closes with 1012 (when no
turn is being generated, else once it ends or the grace period does). Each session is
one journal row (``LiveSession.finish``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import orjson

from gateway.access import registry
from gateway.base import hooks, lifecycle
from gateway.base.asgi import Receive, Scope, Send
from gateway.base.entries import DeploymentEntry, KeyEntry, RouteEntry
from gateway.base.errors import (
    ConfigurationError,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ShuttingDown,
    UpstreamConnectionError,
    UpstreamError,
)
from gateway.core import realtime, session_relay
from gateway.core.call import Call
from gateway.core.call import authorize as authorize_call
from gateway.features.gemini_live import plugin
from gateway.features.gemini_live.session import LiveSession, read_setup, route_name, with_model
from gateway.limits import budget_estimate, limits, subjects
from gateway.providers.base import adapter_for
from gateway.routing import routing
from gateway.telemetry import tags
from gateway.web.callers import header_map, resolve_fresh_caller
from gateway.web.origins import deny_handshake, origin_allowed

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

log = logging.getLogger(__name__)


SETUP_SECONDS = 30.0  # for the client's setup once the socket is accepted
CONNECT_TIMEOUT = realtime.CONNECT_TIMEOUT  # the upstream's socket open and its setupComplete
INVALID = 1007  # Google's close for a bad key or an invalid argument
POLICY = 1008  # a model not found or not permitted, a guardrail's refusal
TOO_BIG = 1009
EXHAUSTED = 1011  # Google's close for a quota (RESOURCE_EXHAUSTED) and internal errors
GOING_AWAY = 1012


def key_token(scope: Scope, headers: Mapping[str, str]) -> str:
    """The virtual key, where google-genai puts a Google key: ``x-goog-api-key`` (the
    Gemini API client), ``?key=`` (a raw client), ``Authorization: Bearer`` (a Vertex AI
    client given the key as its token)."""
    token = headers.get("x-goog-api-key", "").strip()
    if token:
        return token
    raw: bytes = scope.get("query_string") or b""
    if b"key=" in raw:
        from urllib.parse import parse_qsl

        for name, value in parse_qsl(raw.decode("latin-1")):
            if name == "key" and value.strip():
                return value.strip()
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return ""


def client_version(path: str) -> str:
    """The Gemini API version a Gemini API client's path names (``v1beta``), or ""."""
    for version in plugin.GEMINI_VERSIONS:
        if path == plugin.GEMINI_PATH.format(version):
            return version
    return ""


def close_for(error: GatewayError) -> tuple[int, str]:
    """The close code and reason Google's server answers ``error`` with."""
    status = error.status
    if isinstance(error, ShuttingDown):
        code = GOING_AWAY
    elif status in (400, 401, 413, 422):
        code = INVALID
    elif status in (403, 404):
        code = POLICY
    else:
        code = EXHAUSTED  # a rate limit, a spent budget, an upstream that failed
    return code, reason(error.message)


def reason(text: str) -> str:
    """A close reason: at most 123 bytes of UTF-8 (the frame's limit)."""
    data = text.encode()[:123]
    return data.decode(errors="ignore")


# -- the deployments with a Live socket ------------------------------------------------


@runtime_checkable
class LiveUpstream(Protocol):
    """A provider adapter whose upstream has a Live API socket: its URL, the headers
    that sign it, and the ``setup.model`` naming the deployment's model there."""

    async def live_target(
        self, deployment: DeploymentEntry, version: str
    ) -> tuple[str, dict[str, str], str]: ...


def _live_adapter(deployment: DeploymentEntry) -> LiveUpstream | None:
    try:
        adapter = adapter_for(deployment.provider)
    except GatewayError:
        return None
    return adapter if isinstance(adapter, LiveUpstream) else None


def _live_only(route: RouteEntry) -> RouteEntry:
    import dataclasses

    usable = tuple(d for d in route.deployments if _live_adapter(d) is not None)
    if len(usable) == len(route.deployments):
        return route
    return dataclasses.replace(route, deployments=usable)


class UpstreamClosed(UpstreamError):
    """The upstream closed the socket before answering the setup: its code and reason
    are what the client gets when no other deployment answers."""

    def __init__(self, code: int, why: str) -> None:
        status = 400 if code in (INVALID, POLICY) else 502
        super().__init__(f"the upstream closed the Live socket ({code}): {why}", status=status)
        self.close_code, self.close_reason = code, why


async def _connect(
    deployment: DeploymentEntry, setup: dict[str, Any], version: str
) -> tuple[ClientConnection, str | bytes]:
    """The deployment's Live socket, its setup sent, and its first answer."""
    adapter = _live_adapter(deployment)
    if adapter is None:  # a fallback's: skipped, never cooled down
        raise ConfigurationError("its upstream has no Live API")
    url, headers, model = await adapter.live_target(deployment, version)
    upstream = await realtime.open_upstream(url, headers, "Live")
    from websockets.exceptions import ConnectionClosed  # loaded by open_upstream

    try:
        await upstream.send(with_model(setup, model))
        first = await asyncio.wait_for(upstream.recv(), CONNECT_TIMEOUT)
    except ConnectionClosed:
        code, why = upstream.close_code or 1006, upstream.close_reason or ""
        raise UpstreamClosed(code, why) from None
    except TimeoutError:
        await upstream.close()
        raise UpstreamConnectionError(
            f"the upstream did not answer the setup in {CONNECT_TIMEOUT:g}s", status=504
        ) from None
    return upstream, first


# -- the application --------------------------------------------------------------------


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    """The ASGI application of the Live paths."""
    if not await realtime.client_connected(receive):
        return
    headers = header_map(scope)
    caller = await resolve_fresh_caller(headers, key_token(scope, headers))
    call = Call("gemini_live", "gemini", b"", caller)
    if "origin" in headers and not origin_allowed(scope):
        log.warning("refused a Live socket from origin %r", headers["origin"][:200])
        await _deny_origin(scope, send, call, PermissionDenied("this origin may not connect"))
        return
    await send({"type": "websocket.accept"})
    try:
        first = await asyncio.wait_for(receive(), SETUP_SECONDS)
    except TimeoutError:
        await _refuse(send, call, InvalidRequest("no setup was sent"))
        return
    if first["type"] != "websocket.receive":
        return  # the client left before its setup: nothing to journal
    try:
        setup = read_setup(first.get("text") or first.get("bytes") or b"")
        key = authorize_call(call)
    except GatewayError as error:
        await _refuse(send, call, error)
        return
    if lifecycle.closing():
        await _refuse(send, call, ShuttingDown("this gateway instance is shutting down"))
        return
    with lifecycle.in_flight():
        await _serve(receive, send, call, key, setup, headers, scope["path"])


async def _serve(
    receive: Receive,
    send: Send,
    call: Call,
    key: KeyEntry,
    setup: dict[str, Any],
    headers: dict[str, str],
    path: str,
) -> None:
    try:
        route, guard, upstream, answer = await _open(call, key, setup, headers, path)
    except _Refused as refused:
        if refused.guard is not None:
            refused.guard.finished(call.record)
        await _refuse(send, call, refused.error)
        return
    except UpstreamClosed as error:  # the last upstream closed: its code and reason
        call.finish(status=error.status if error.status >= 500 else 502, error=error)
        await _close_client(send, error.close_code, error.close_reason)
        return
    except GatewayError as error:  # no upstream could be reached
        call.finish(status=error.status if error.status >= 500 else 502, error=error)
        await _close_client(send, EXHAUSTED, "upstream unavailable")
        return
    except asyncio.CancelledError:
        call.finish(status=499, error=GatewayError("client disconnected"), disconnected=True)
        raise
    assert call.deployment is not None
    session = LiveSession(call=call, route=route, deployment=call.deployment, upstream=upstream)
    session.guard = guard
    await session_relay.relay(session, receive, send, LIVE, first=answer)


class _Refused(Exception):
    def __init__(self, error: GatewayError, guard: hooks.SessionGuardRun | None = None) -> None:
        super().__init__(str(error))
        self.error, self.guard = error, guard


async def _open(
    call: Call, key: KeyEntry, setup: dict[str, Any], headers: Mapping[str, str], path: str
) -> tuple[RouteEntry, hooks.SessionGuardRun | None, ClientConnection, str | bytes]:
    """Admit the session, check its setup (its guardrails, which it answers) and open
    the upstream's (the setup answered)."""
    try:
        name = route_name(setup["setup"].get("model"))
        route = registry.current().route(name)
        if route is None or not route.enabled:
            await registry.refresh_on_miss()  # created a moment ago in another process?
            route = registry.current().route(name)
        if route is None or not route.enabled:
            raise ModelNotFound(
                f"models/{name} is not found, or is not supported for bidiGenerateContent",
                param="model",
                code="model_not_found",
            )
        call.route = route
        tags.attribute(call.record, {}, headers, key)
        tagged = subjects.tag_limits(registry.current().tag_limits, call.record.tags)
        hold = budget_estimate.session_hold(key, tagged)
        call.reservation = await limits.admit(
            key, route.name, 0, hold, route_teams=route.teams, tags=tagged
        )
    except GatewayError as error:
        raise _Refused(error) from None
    plan = _live_only(route)
    if not any(d.weight > 0 for d in plan.deployments):
        raise _Refused(
            InvalidRequest(
                f"models/{route.name} is not supported for bidiGenerateContent: none of its "
                "upstreams has the Live API",
                param="model",
            )
        )
    guard = _guard(key, route, call.caller.request_id)
    if guard is not None:  # the setup's texts (system instruction, tools) are checked too
        try:
            setup = orjson.loads(await guard.client(orjson.dumps(setup).decode()))
        except GatewayError as error:
            raise _Refused(error, guard) from None
    version = client_version(path)
    answers: dict[int, str | bytes] = {}

    async def attempt(target: RouteEntry, deployment: DeploymentEntry) -> ClientConnection:
        call.deployment = deployment
        try:
            upstream, answers[0] = await _connect(deployment, setup, version)
        except GatewayError as error:
            log.warning("live: %s failed to connect: %s", deployment.label, error.log_message[:300])
            raise
        return upstream

    outcome = call.stream_outcome = routing.StreamOutcome()
    upstream = await routing.run(
        registry.current(), plan, attempt, call.record.attempts, key, outcome
    )
    assert call.deployment is not None
    call.release_deployment = routing.hold(call.deployment.id)  # in flight (least_busy)
    return route, guard, upstream, answers[0]


def _guard(key: KeyEntry, route: RouteEntry, request_id: str) -> hooks.SessionGuardRun | None:
    """The session's guardrails (``hooks.session_guards``, the Live protocol's), or None."""
    for guards in hooks.session_guards:
        run = guards.begin(key, route, request_id, protocol="gemini_live")
        if run is not None:
            return run
    return None


class _Live:
    """The Live API's side of the relay (``session_relay``): a client message over the
    limit ends the session; each end is a close code and reason as Google's server
    gives them (a restart's after a ``goAway``)."""

    guardrail_close = POLICY
    budget_close = EXHAUSTED

    async def oversized(self, send: Send, limit: int) -> bool:
        return True

    async def refused(self, send: Send, error: GatewayError) -> None:
        """Never asked: a Live session refuses no client message by itself."""

    async def farewell(
        self, send: Send, ending: session_relay.Ending, ends: session_relay.Ends
    ) -> tuple[int, str]:
        if ending == "guardrail":
            return POLICY, reason(ends["guardrail"].message)
        if ending == "budget":
            return EXHAUSTED, reason("budget exhausted: " + ends["budget"].message)
        if ending == "too_big":
            return TOO_BIG, reason(ends["too_big"])
        if ending == "restart":
            with contextlib.suppress(Exception):  # Google's notice before it closes
                goaway = orjson.dumps({"goAway": {"timeLeft": "0s"}}).decode()
                await send({"type": "websocket.send", "text": goaway})
            return GOING_AWAY, "server restarting; reconnect"
        code, why = session_relay.upstream_close(ends)  # the upstream ended it: passed on
        return code, reason(why)


LIVE = _Live()


async def _close_client(send: Send, code: int, why: str) -> None:
    with contextlib.suppress(Exception):  # the client may be gone already
        await send({"type": "websocket.close", "code": code, "reason": reason(why)})


async def _refuse(send: Send, call: Call, error: GatewayError) -> None:
    """Refuse the session as Google's server does (``close_for``); journaled with the
    error's HTTP status."""
    call.error_reply(error)  # the journal row
    await _close_client(send, *close_for(error))


async def _deny_origin(scope: Scope, send: Send, call: Call, error: GatewayError) -> None:
    """Refuse a browser from a foreign origin before accepting: the error as an HTTP
    answer when the server can send one, else a close with 4403. Journaled."""
    reply = call.error_reply(error)
    await deny_handshake(scope, send, reply, 4000 + reply.status)
