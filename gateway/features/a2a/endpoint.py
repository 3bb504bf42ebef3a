"""``/a2a/<agent>``: a registered agent served behind the gateway, as an ASGI app the
edge's route table hands the request to (``hooks.asgi_apps``, imported on a worker's
first A2A request).

- ``GET /a2a/<agent>/.well-known/agent-card.json``: the agent's card rewritten to point
  at the gateway (``wire.rewritten``; the extended card only to a key allowed it).
- ``POST /a2a/<agent>``: JSON-RPC, 1.0 (``SendMessage``...) or 0.3 (``message/send``...).
- ``/a2a/<agent>/...``: HTTP+JSON, 1.0 (``/message:send``, ``/tasks/{id}``...) or 0.3
  (``/v1/message:send``...).

The caller is a key, or an agent's token acting for one (``access.delegation``: an
agent calling another, a chain, stays in the token's run and session, one agent
deeper, at most ``delegation.MAX_DEPTH``). A message starts an agent run, in the
session (A2A context) it names, its task's, or a new one the gateway gives it.
Every call goes through the one chain, in this order: the key (401), its grant of the
agent (``a2a.agent.call``, 403), the task it names bound to the same key (a task of any
other key: "task not found"), the key's (and team's, owner's) rpm and budget
(``limits.admit``: the agent's per-call price held on a message; a run's and its
session's budgets), the tags, the guardrails on the message's text parts
(``hooks.message_guards``), the relay to the agent (its own auth; SSE relayed event by
event, each event's text parts checked), the
tasks the answer carries bound to the key, and the spend settled (the price plus what
the agent reports as ``metadata.cost_usd``). Each call is one journal row (dialect
``a2a``, endpoint the 1.0 method, route the agent, ``upstream_model`` the task id,
``session`` the context id) and one span (``tracing.start_operation("a2a", ...)``).
Errors answer in the caller's binding (``errors``)."""

from __future__ import annotations

import contextlib
import dataclasses
import time
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import httpx
import orjson
from django.conf import settings

from gateway import journal
from gateway.access import delegation, registry
from gateway.access.authorization import decide
from gateway.base import db_work, hooks
from gateway.base import http as outbound
from gateway.base.entries import AgentRun, KeyEntry, TagEntry
from gateway.base.errors import GatewayError, GuardrailBlocked, GuardrailUnavailable
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.core.call import key_refusal
from gateway.features.a2a import errors, snapshot, tasks, wire
from gateway.features.a2a.errors import A2aFault
from gateway.features.a2a.snapshot import AgentEntry
from gateway.limits import limits, subjects
from gateway.telemetry import semconv, tags, tracing
from gateway.web.callers import header_map, resolve_fresh_caller

PREFIX = "/a2a/"
FORWARDED = ("a2a-version", "a2a-extensions", "traceparent", "tracestate")
SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


@dataclasses.dataclass(slots=True)
class Exchange:
    """One call: who, to which agent, what, and how to answer."""

    scope: dict[str, Any]
    send: Any
    headers: dict[str, str]
    agent: AgentEntry
    key: KeyEntry
    call: wire.Call
    rpc_id: Any = None
    body: dict[str, Any] = dataclasses.field(default_factory=dict)  # JSON-RPC: params
    rest: str = ""
    query: bytes = b""
    record: Any = None
    checks: list[hooks.MessageCheck] = dataclasses.field(default_factory=list)
    seen: set[str] = dataclasses.field(default_factory=set)  # tasks bound this call
    foreign: set[str] = dataclasses.field(default_factory=set)
    cost: Decimal = Decimal(0)
    task_id: str = ""
    state: str = ""
    rpc_method: str = ""  # JSON-RPC: the method as the caller named it (relayed so)
    started: bool = False  # a stream's answer has begun: errors go as its last event
    run: AgentRun | None = None  # a message's agent run (the token carried names it)


def base_url(scope: dict[str, Any], name: str) -> str:
    return f"{origin(scope)}{PREFIX}{name}"


def origin(scope: dict[str, Any]) -> str:
    """The gateway's public origin (``SWITCHYARD_PUBLIC_URL``, else as the request came)."""
    configured = str(getattr(settings, "SWITCHYARD_PUBLIC_URL", "") or "").strip().rstrip("/")
    if not configured:
        headers = dict(scope.get("headers") or ())
        host = headers.get(b"host", b"").decode("latin-1")
        if not host:
            server = scope.get("server") or ("localhost", None)
            host = server[0] if server[1] in (None, 80, 443) else f"{server[0]}:{server[1]}"
        configured = f"{scope.get('scheme') or 'http'}://{host}"
    return configured


async def _reply(send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _fault(send: Any, fault: A2aFault, rpc: bool, rpc_id: Any = None) -> None:
    if rpc:  # JSON-RPC answers its errors with 200 but for a missing or unknown key
        status = 401 if isinstance(fault, errors.Unauthenticated) else 200
        await _reply(send, status, errors.rpc_body(rpc_id, fault), errors.JSON)
    else:
        await _reply(send, fault.http, errors.rest_body(fault), errors.JSON)


async def _read(receive: Any) -> bytes:
    limit = int(settings.SWITCHYARD_MAX_BODY_BYTES)
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise errors.InvalidRequest("the client left before its request was read")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise errors.InvalidRequest(f"the request is larger than {limit} bytes")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


async def _key(headers: dict[str, str], agent: str) -> KeyEntry:
    """The caller's key, or the key an agent's token acts for (a chain: the token must
    reach ``a2a``, or ``a2a:<agent>``)."""
    caller = await resolve_fresh_caller(headers, surface=f"{delegation.A2A}:{agent}")
    if caller.key is None:
        raise errors.Unauthenticated(caller.key_error or "invalid API key")
    refused = key_refusal(caller.key)
    if refused:
        raise errors.Unauthenticated(refused)
    return caller.key


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope.get("type") != "http":
        return
    path: str = scope["path"]
    method: str = scope["method"]
    name, _, rest = path[len(PREFIX) :].partition("/")
    rest = "/" + rest if rest else ""
    rpc = method == "POST" and rest in ("", "/")
    rpc_id: Any = None
    try:
        headers = header_map(scope)
        key = await _key(headers, name)  # first: no agent is named to a caller without a key
        agent = snapshot.current().agents.get(name)
        if agent is None and await registry.refresh_on_miss():  # created elsewhere just now?
            agent = snapshot.current().agents.get(name)
        if agent is None or not agent.enabled:
            raise errors.AgentNotFound(f"no agent named {name!r}")
        allowed = decide(key, "a2a.agent.call", name)
        if not allowed:
            raise errors.Forbidden(allowed.reason)
        if method == "GET" and rest in (wire.CARD_PATH, wire.LEGACY_CARD_PATH):
            extended = wire.has_extended_card(agent.card) and bool(
                decide(key, "a2a.card.extended", name)
            )
            card = wire.rewritten(agent.card, base_url(scope, name), extended=extended)
            await _reply(send, 200, orjson.dumps(card), errors.JSON)
            return
        exchange: Exchange
        if rpc:
            try:
                payload = orjson.loads(await _read(receive))
            except orjson.JSONDecodeError:
                raise errors.ParseFailed("the request is not JSON") from None
            if not isinstance(payload, dict) or payload.get("jsonrpc") != "2.0":
                raise errors.InvalidRequest("not a JSON-RPC 2.0 request")
            rpc_id = payload.get("id")
            params = payload.get("params")
            params = params if isinstance(params, dict) else {}
            call = wire.rpc_call(str(payload.get("method") or ""), params)
            if call is None:
                raise errors.MethodNotFound(f"method {payload.get('method')!r} not found")
            exchange = Exchange(scope, send, headers, agent, key, call, rpc_id, params)
            exchange.rpc_method = str(payload["method"])
        else:
            call = wire.rest_call(method, rest)
            if call is None:
                raise errors.MethodNotFound(f"{method} {rest or '/'} is not an A2A operation")
            body: dict[str, Any] = {}
            if method == "POST":
                raw = await _read(receive)
                try:
                    loaded = orjson.loads(raw) if raw.strip() else {}
                except orjson.JSONDecodeError:
                    raise errors.ParseFailed("the request is not JSON") from None
                body = loaded if isinstance(loaded, dict) else {}
            query = scope.get("query_string", b"")
            exchange = Exchange(scope, send, headers, agent, key, call, None, body, rest, query)
    except A2aFault as fault:
        await _fault(send, fault, rpc, rpc_id)
        return
    await serve(exchange)


# --- one call ------------------------------------------------------------------------------


async def serve(ex: Exchange) -> None:
    started = time.monotonic()
    call, agent, key = ex.call, ex.agent, ex.key
    rec = _record(ex)
    ex.record, ex.task_id = rec, call.task_id
    span = tracing.start_operation(
        "a2a",
        call.method,
        target=agent.name,
        carrier=ex.headers,
        attributes={"gen_ai.agent.name": agent.name},
    )
    reservation = None
    upstream_started: float | None = None
    try:
        context = ""  # the context of the task the call names
        if call.task_id:
            found = await db_work.arun(tasks.context_of, agent.id, call.task_id, key)
            if found is None:
                raise errors.TaskNotFound(f"task {call.task_id!r} not found")
            context = found
        if call.operation == "card" and not (
            wire.has_extended_card(agent.card) and decide(key, "a2a.card.extended", agent.name)
        ):
            raise errors.ExtendedCardNotConfigured("no extended agent card for this key")
        try:
            tags.attribute(rec, ex.body, ex.headers, key)
        except GatewayError as exc:
            raise errors.Forbidden(exc.message) from None
        priced = call.operation in ("send", "stream") and agent.price_usd > 0
        if call.operation in ("send", "stream") and not key.is_master:
            ex.run = _run_of(ex, rec.request_id, context, await _named_session(ex))
            rec.agent_run = ex.run.id
            rec.session = rec.session or ex.run.context
        elif key.run is not None:  # a task call of an agent in a chain: still its run
            rec.agent_run = key.run.id
            rec.session = rec.session or key.run.context
        run_key = key if ex.run is None else dataclasses.replace(key, run=ex.run)
        tagged = subjects.tag_limits(registry.current().tag_limits, rec.tags)
        reservation = await _admit(run_key, agent, priced, tagged)
        await _check_message(ex, rec)
        if priced:
            ex.cost += agent.price_usd
        upstream_started = time.monotonic()
        await _relay(ex)
        rec.status = rec.status or 200
    except A2aFault as fault:
        rec.status, rec.error_kind, rec.error_message = fault.http, fault.reason, fault.message
        await _answer_fault(ex, fault)
    except (GuardrailBlocked, GuardrailUnavailable) as refusal:
        rec.status, rec.error_kind = refusal.status, refusal.code or refusal.kind
        rec.error_message = refusal.message
        await _answer_fault(ex, errors.Blocked(refusal.message))
    except Exception as exc:  # never a crash of the worker, never a secret
        rec.status, rec.error_kind = 500, "internal_error"
        rec.error_message = f"{type(exc).__name__}"
        await _answer_fault(ex, errors.A2aFault(f"agent {agent.name}: internal error"))
    finally:
        if reservation is not None:
            await reservation.settle(0, ex.cost)
        _finish(ex, rec, span, started, upstream_started)


def _record(ex: Exchange) -> journal.Record:
    """The call's journal row as it starts."""
    call, agent, key = ex.call, ex.agent, ex.key
    return journal.Record.of_call(
        "a2a",
        key,
        endpoint=call.method,
        route=agent.name,
        upstream_model=call.task_id,
        stream=call.operation in wire.STREAMING,
        user_agent=ex.headers.get("user-agent", "")[:300],
        inbound_request=ex.body or None,
    )


async def _check_message(ex: Exchange, rec: journal.Record) -> None:
    """The message guardrails that apply to the call begun (``ex.checks``), and a
    message sent to the agent checked by them, its texts as they let them through."""
    key, agent = ex.key, ex.agent
    for guard in hooks.message_guards:
        check = guard.begin(key, f"a2a:{agent.name}", record=rec)
        if check is not None:
            ex.checks.append(check)
    if ex.call.operation in ("send", "stream") and ex.checks:
        message = ex.body.get("message")
        if isinstance(message, dict):
            texts = wire.texts_of(message)
            for check in ex.checks:
                texts = await check.check_input(texts)
            ex.body = {**ex.body, "message": wire.with_texts(message, texts)}


async def _answer_fault(ex: Exchange, fault: A2aFault) -> None:
    if ex.started:
        return  # a stream already under way ends with its error event (``_relay_stream``)
    with contextlib.suppress(OSError):  # the client left
        await _fault(ex.send, fault, ex.call.binding == wire.JSONRPC, ex.rpc_id)


async def _named_session(ex: Exchange) -> str:
    """The session of the context a message names ('' for none, or a chain's message:
    it stays in its run's): the caller's own, or the caller's the agent's context was
    mapped back to (``tasks.session_of``: an agent that answered in its own context)."""
    message = ex.body.get("message")
    named = message.get("contextId") if isinstance(message, dict) else None
    if ex.key.run is not None or not isinstance(named, str) or not named:
        return ""
    return await db_work.arun(tasks.session_of, ex.agent.id, named, ex.key)


def _run_of(ex: Exchange, run_id: str, task_context: str, named: str) -> AgentRun:
    """The agent run a message starts: the task it names and its session (``named``,
    the session of the context it names, or its task's; a message naming neither starts
    a session, and is given a new ``contextId`` so that the session is known before the
    agent answers: its tasks are bound in it, whatever context the agent answers in,
    and the agent's own context mapped back to it, ``tasks.bind``). A message
    an agent sends with the token it was carried (a chain) stays in that token's run
    and session, one agent deeper: ChainTooDeep past ``delegation.MAX_DEPTH``."""
    carried = ex.key.run
    if carried is not None:
        if carried.depth + 1 >= delegation.MAX_DEPTH:
            raise errors.ChainTooDeep(
                f"agent {carried.agent}'s run is {carried.depth + 1} agents deep: a chain "
                f"calls at most {delegation.MAX_DEPTH} agents"
            )
        return dataclasses.replace(carried, depth=carried.depth + 1)
    message = ex.body.get("message")
    context = named or task_context
    if isinstance(message, dict) and not context and not ex.call.task_id:
        context = str(uuid.uuid4())
        ex.body = {**ex.body, "message": {**message, "contextId": context}}
    return AgentRun(
        id=run_id,
        agent=ex.agent.name,
        task=ex.call.task_id,
        context=context[:200],
        budget_usd=ex.agent.run_budget_usd,
        session_budget_usd=ex.agent.session_budget_usd,
    )


async def _admit(
    key: KeyEntry, agent: AgentEntry, priced: bool, tagged: tuple[TagEntry, ...]
) -> Any:
    """The key's rpm and budget (and its team's, its owner's, its run's and its
    ``tagged`` tags'), a message holding the agent's price until the call settles; its
    model route list does not apply. (Without the tags, a tag's budget never refused a
    message.)"""
    hold = agent.price_usd if priced else None
    try:
        return await limits.admit(
            dataclasses.replace(key, routes=None),
            f"a2a:{agent.name}",
            0,
            hold_usd=hold,
            tags=tagged,
        )
    except GatewayError as exc:
        if exc.status == 429:
            raise errors.Limited(exc.message) from None
        if exc.status == 401:
            raise errors.Unauthenticated(exc.message) from None
        raise errors.Forbidden(exc.message) from None


def _finish(
    ex: Exchange,
    rec: Any,
    span: tracing.Operation,
    started: float,
    upstream_started: float | None,
) -> None:
    rec.time_until_now(started, upstream_started)
    rec.cost_usd = ex.cost
    rec.upstream_model = ex.task_id[:200]
    rec.finish_reason = "error" if rec.status >= 400 else (ex.state or "stop")[:40]
    journal.record(rec)
    if span is not tracing.NO_OPERATION:
        attributes: dict[str, Any] = {"switchyard.status": rec.status}
        if ex.task_id:
            attributes["a2a.task.id"] = ex.task_id
        if ex.state:
            attributes["a2a.task.state"] = ex.state
        if rec.session:
            attributes[semconv.CONVERSATION_ID] = rec.session
        span.set(attributes)
        if rec.status >= 400:
            span.end(rec.error_kind or str(rec.status), rec.error_message)
        else:
            span.end()


# --- the relay -----------------------------------------------------------------------------


def _upstream(ex: Exchange) -> tuple[str, dict[str, str]]:
    agent, call = ex.agent, ex.call
    target = wire.upstream_url(agent.card, call.binding, call.version, wire.same_host(agent.url))
    if target is None:
        raise errors.UnsupportedOperation(
            f"agent {agent.name} does not serve the {call.binding} binding"
        )
    headers = {"content-type": "application/json", "accept": "application/json"}
    for name in FORWARDED:
        if name in ex.headers:
            headers[name] = ex.headers[name]
    headers.setdefault("a2a-version", call.version)
    if call.operation in wire.STREAMING:
        headers["accept"] = "text/event-stream"
    if ex.run is not None and agent.act_as_caller:  # the caller's identity, for its calls
        seconds = max(delegation.TOKEN_SECONDS, agent.timeout + 60)
        reach = ex.run.surfaces or delegation.SURFACES  # a chain's: no more than it came with
        carried, _ = delegation.mint(ex.key, ex.run, audience=reach, seconds=seconds)
        headers[delegation.HEADER] = carried
        headers[delegation.RUN_HEADER] = ex.run.id
    if agent.auth == "bearer":
        token = agent.bearer or resolve_secret(agent.bearer_ref)
        if token:
            headers["authorization"] = f"Bearer {token}"
    if call.binding == wire.HTTP_JSON:
        target += ex.rest
        if ex.query:
            target += "?" + ex.query.decode("latin-1")
    return target, headers


def _request_body(ex: Exchange) -> bytes | None:
    if ex.call.binding == wire.JSONRPC:
        request = {"jsonrpc": "2.0", "id": ex.rpc_id, "method": ex.rpc_method, "params": ex.body}
        return orjson.dumps(request)
    if ex.scope["method"] == "POST":
        return orjson.dumps(ex.body)
    return None


def _upstream_oauth() -> hooks.UpstreamOAuth:
    for shared in hooks.upstream_oauth:
        return shared
    raise errors.AgentUnavailable("per-person OAuth to agents is not available")


async def _oauth_bearer(ex: Exchange) -> str:
    """The caller's own access token for an ``oauth`` agent: only a key its owner minted
    carries the owner's (``entries.own_identity``), never another person's; none is
    ``AuthorizationRequired`` naming the console page to connect on."""
    target = ex.agent.oauth_target()
    try:
        return await _upstream_oauth().bearer(target, ex.key.user_id, ex.key.minted_by)
    except hooks.OAuthRequired as exc:
        url = origin(ex.scope) + (target.page or snapshot.CONNECT_PATH)
        raise errors.AuthorizationRequired(
            f"agent {ex.agent.name}: {exc.why}; connect your account at {url}, then try again",
            connect_url=url,
        ) from None
    except hooks.OAuthUnavailable as exc:
        raise errors.AgentUnavailable(str(exc)) from None


async def _send(
    ex: Exchange, client: httpx.AsyncClient, target: str, headers: dict[str, str]
) -> httpx.Response:
    method = ex.scope["method"] if ex.call.binding == wire.HTTP_JSON else "POST"
    timeout = outbound.default_timeout(ex.agent.timeout)
    try:
        request = client.build_request(
            method, target, content=_request_body(ex), headers=headers, timeout=timeout
        )
        return await client.send(request, stream=True)
    except httpx.HTTPError:
        raise errors.AgentUnavailable(f"agent {ex.agent.name} is unreachable") from None


async def _send_as_caller(
    ex: Exchange, client: httpx.AsyncClient, target: str, headers: dict[str, str]
) -> httpx.Response:
    """The request sent with the caller's own token (an ``oauth`` agent), a message and a
    stream alike: refused (401: revoked at the server, expired early), the token is
    refreshed once and the request sent once more; refused again, the caller is asked to
    connect again (``AuthorizationRequired``), never handed the agent's bare 401."""
    headers["authorization"] = f"Bearer {await _oauth_bearer(ex)}"
    response = await _send(ex, client, target, headers)
    for attempt in (1, 2):
        if response.status_code != 401 or ex.key.user_id is None:
            return response
        await response.aclose()
        token = headers["authorization"].removeprefix("Bearer ")
        _upstream_oauth().expire(ex.agent.oauth_target(), ex.key.user_id, token)
        if attempt == 2:
            url = origin(ex.scope) + (ex.agent.oauth_target().page or snapshot.CONNECT_PATH)
            raise errors.AuthorizationRequired(
                f"agent {ex.agent.name} refused your token, refreshed too; connect your "
                f"account again at {url}, then try again",
                connect_url=url,
            )
        headers["authorization"] = f"Bearer {await _oauth_bearer(ex)}"
        response = await _send(ex, client, target, headers)
    return response


async def _relay(ex: Exchange) -> None:
    target, headers = _upstream(ex)
    client = outbound.client()
    if ex.agent.auth == "oauth":
        response = await _send_as_caller(ex, client, target, headers)
    else:
        response = await _send(ex, client, target, headers)
    try:
        kind = response.headers.get("content-type", "")
        if kind.startswith("text/event-stream"):
            await _relay_stream(ex, response)
            return
        try:
            raw = await response.aread()
        except httpx.HTTPError:
            raise errors.AgentUnavailable(f"agent {ex.agent.name} stopped answering") from None
        await _relay_answer(ex, response.status_code, raw)
    finally:
        await response.aclose()


async def _relay_answer(ex: Exchange, status: int, raw: bytes) -> None:
    try:
        payload = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        raise errors.InvalidAgentResponse(
            f"agent {ex.agent.name} answered something not JSON"
        ) from None
    rpc = ex.call.binding == wire.JSONRPC
    if rpc:
        if not isinstance(payload, dict):
            raise errors.InvalidAgentResponse(f"agent {ex.agent.name} answered no JSON-RPC")
        if "result" in payload:
            payload = {**payload, "id": ex.rpc_id, "result": await _answered(ex, payload["result"])}
        else:
            payload = {**payload, "id": ex.rpc_id}
            ex.record.status = 200
            error = payload.get("error")
            if isinstance(error, dict):
                ex.record.error_kind = str(error.get("code", ""))[:100]
                ex.record.error_message = str(error.get("message", ""))[:500]
                ex.record.status = 404 if error.get("code") == -32001 else 400
    elif 200 <= status < 300 and payload is not None:
        payload = await _answered(ex, payload)
    else:
        ex.record.status = status
        ex.record.error_kind = "agent_error"
    if not ex.record.status:
        ex.record.status = status if not rpc else 200
    ex.record.outbound_response = payload
    await _reply(ex.send, 200 if rpc else status, orjson.dumps(payload), errors.JSON)


async def _answered(ex: Exchange, result: Any) -> Any:
    """A result (or one streamed event) as the caller gets it: its tasks bound to the
    key (another key's left out of a list; refused anywhere else), its texts checked."""
    found = list(wire.tasks_in(result))
    if ex.call.operation == "list" and isinstance(result, dict):
        listed = [t for t in result.get("tasks") or () if isinstance(t, dict)]
        ids = [str(t.get("id", "")) for t in listed]
        mine = await db_work.arun(tasks.owned, ex.agent.id, ids, ex.key)
        result = {**result, "tasks": [t for t in listed if t.get("id") in mine]}
    elif found:
        fresh = [(t, c) for t, c in found if t not in ex.seen]
        if fresh:
            session = ex.run.context if ex.run is not None else ""
            ex.foreign |= await db_work.arun(tasks.bind, ex.agent.id, fresh, ex.key, session)
            ex.seen.update(t for t, _ in fresh)
        if any(t in ex.foreign for t, _ in found):
            raise errors.TaskNotFound("task not found")
        ex.task_id = ex.task_id or found[0][0]
        if found[0][1] and not ex.record.session:
            ex.record.session = found[0][1][:200]
    if ex.call.operation == "card" and isinstance(result, dict):  # the extended card
        return wire.rewritten(result, base_url(ex.scope, ex.agent.name), extended=True)
    if ex.call.operation != "list":
        ex.state = wire.state_of(result) or ex.state
        reported = wire.reported_cost(result)
        if reported:
            ex.cost += Decimal(str(reported))
    if ex.checks and ex.call.operation != "card":
        texts = wire.texts_of(result)
        if texts:
            checked = texts
            for check in ex.checks:
                checked = await check.check_output(checked)
            result = wire.with_texts(result, checked)
    return result


async def _events(response: httpx.Response) -> AsyncIterator[tuple[str, str]]:
    """(name, ``data``) of each server-sent event (an unnamed event's name: '')."""
    name, data = "", list[str]()
    async for line in response.aiter_lines():
        if not line:
            if data:
                yield name, "\n".join(data)
            name, data = "", []
            continue
        if line.startswith("data:"):
            data.append(line[6:] if line[5:6] == " " else line[5:])
        elif line.startswith("event:"):
            name = line[6:].strip()
    if data:
        yield name, "\n".join(data)


def _sse(event: Any, name: str = "") -> bytes:
    head = f"event: {name}\n".encode() if name else b""
    return head + b"data: " + orjson.dumps(event) + b"\n\n"


async def _relay_stream(ex: Exchange, response: httpx.Response) -> None:
    rpc = ex.call.binding == wire.JSONRPC
    await ex.send({"type": "http.response.start", "status": 200, "headers": SSE})
    ex.started = True
    events = 0
    try:
        async for name, data in _events(response):
            try:
                event = orjson.loads(data)
            except orjson.JSONDecodeError:
                continue  # a comment or keep-alive the agent sent
            if name == "error":  # the agent's own error event (HTTP+JSON): relayed, last
                ex.record.status, ex.record.error_kind = 502, "agent_error"
                await ex.send({"type": "http.response.body", "body": _sse(event, name)})
                return
            if rpc and isinstance(event, dict):
                if "result" in event:
                    event = {
                        **event,
                        "id": ex.rpc_id,
                        "result": await _answered(ex, event["result"]),
                    }
                else:
                    event = {**event, "id": ex.rpc_id}
            elif isinstance(event, dict) and "error" not in event:
                event = await _answered(ex, event)
            events += 1
            await ex.send({"type": "http.response.body", "body": _sse(event), "more_body": True})
    except (GuardrailBlocked, GuardrailUnavailable) as refusal:
        ex.record.status, ex.record.error_kind = refusal.status, refusal.code or refusal.kind
        ex.record.error_message = refusal.message
        await _stream_fault(ex, errors.Blocked(refusal.message))
        return
    except A2aFault as fault:
        ex.record.status, ex.record.error_kind = fault.http, fault.reason
        ex.record.error_message = fault.message
        await _stream_fault(ex, fault)
        return
    except httpx.HTTPError:
        ex.record.status, ex.record.error_kind = 502, "AGENT_UNAVAILABLE"
        ex.record.error_message = f"agent {ex.agent.name} stopped streaming"
        await _stream_fault(ex, errors.AgentUnavailable(ex.record.error_message))
        return
    except OSError:
        ex.record.client_disconnected = True
        ex.record.status = 499
        return
    ex.record.status = 200
    ex.record.outbound_response = {"events": events}
    await ex.send({"type": "http.response.body", "body": b"", "more_body": False})


async def _stream_fault(ex: Exchange, fault: A2aFault) -> None:
    """The stream's last event: JSON-RPC's error response, HTTP+JSON's ``error`` event."""
    if ex.call.binding == wire.JSONRPC:
        body = _sse(errors.rpc_payload(ex.rpc_id, fault))
    else:
        body = _sse(errors.rest_payload(fault), "error")
    try:
        await ex.send({"type": "http.response.body", "body": body, "more_body": False})
    except OSError:
        ex.record.client_disconnected = True
