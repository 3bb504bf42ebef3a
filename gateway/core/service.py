"""The one place that spans layers: parse -> route -> limit -> call upstream -> render ->
journal. The ASGI endpoints and the console playground both call ``handle``, so every
request is authenticated, limited, routed, retried and journaled the same way.

Every endpoint runs one pipeline (``_serve``: route, admit, cache, respond); what an
endpoint does at each step is its ``Job`` (``gateway.core.jobs``), the chunks a stream's
client reads come from ``gateway.core.pumps``, and one request's state while it runs is
a ``Call`` (``gateway.core.call``). The caller's dialect is a client codec
(``gateway.edge.dialects``), chosen by the endpoint table; the upstream's is its adapter's.
What differs between dialects is read from the codec: the service never asks which
dialect it serves.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

import orjson

from gateway.access import authorization, registry
from gateway.base import endpoints, hooks, json_layout, lifecycle
from gateway.base.endpoints import TEXT, Endpoint
from gateway.base.entries import KeyEntry, RouteEntry
from gateway.base.errors import (
    AuthenticationFailed,
    GatewayError,
    InvalidRequest,
    ModelNotFound,
    PermissionDenied,
    ShuttingDown,
    SnapshotMiss,
)
from gateway.base.types import ModelInfo
from gateway.core import call as _call_module
from gateway.core import (
    shadow,
)
from gateway.core.call import (
    SHUTDOWN_CUT,
    Call,
    Caller,
    Headers,
    Reply,
    StreamReply,
    authorize,
    client_status,
    key_refusal,
    new_request_id,
    protocol,
    retry_headers,
)
from gateway.core.jobs import JOBS, Job, answer_cache_lookup, cache_lookup, cached_reply
from gateway.core.pumps import close_quietly
from gateway.limits import budget_estimate, limits, subjects
from gateway.providers import wire
from gateway.routing import context_windows
from gateway.telemetry import attribution, tags, tracing

_P = ParamSpec("_P")
_T = TypeVar("_T")
log = logging.getLogger(__name__)


# --- entry point --------------------------------------------------------------------------


async def handle(
    endpoint: str,
    dialect: str,
    raw: bytes,
    headers: Mapping[str, str],
    caller: Caller,
    path_fields: Mapping[str, Any] | None = None,
) -> Reply | StreamReply:
    """Serve one request. ``endpoint``: chat | completions | embeddings | count_tokens |
    prepare (a Responses request stored without generating, WebSocket mode).
    ``path_fields`` are set on the parsed body (Gemini names the model and asks for a
    stream in the URL). Never raises: every failure becomes an error reply in the
    caller's dialect."""
    call = Call(endpoint, dialect, raw, caller)
    call.headers_in, call.path_fields = headers, path_fields
    if tracing.ENABLED:
        call.span = tracing.start_request(call, headers)
    wire.current_request_id.set(caller.request_id)  # adapters name it in their errors
    try:
        key = authorize(call)
        feature = None if endpoint in JOBS else hooks.endpoint_jobs.get(endpoint)
        if feature is not None and feature.multipart:  # read by its job (media's forms)
            call.logged_request = b""  # the journal never keeps the uploaded files
            body: dict[str, Any] = {}
        else:
            body = _parse_json(raw, call)
        if path_fields:
            body.update(path_fields)
        for rewrite in hooks.request_bodies:  # a feature's rewrite (a prompt reference)
            try:
                rewrite(call, key, body)
            except SnapshotMiss:
                await _after_registry_check(rewrite, call, key, body)
        job = JOBS.get(endpoint) or feature
        if job is None:
            raise ModelNotFound(f"unknown endpoint {endpoint!r}")
        return await _serve(job(call, key, body, headers))
    except GatewayError as error:
        return call.error_reply(error)
    except asyncio.CancelledError:
        if lifecycle.was_cut():
            call.finish(status=503, error=ShuttingDown(SHUTDOWN_CUT))
        else:
            call.finish(status=499, error=GatewayError("client disconnected"), disconnected=True)
        raise
    except Exception as exc:  # a bug: log it, answer cleanly, never a traceback
        log.exception("request %s failed", caller.request_id)
        return call.error_reply(GatewayError(f"internal error ({type(exc).__name__})"))


async def _after_registry_check(step: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    """``step`` once more after a registry check, having raised ``SnapshotMiss``: what
    the request names may have been created a moment ago in another process (as
    ``_fresh_route_for`` does for a model); its refusal if it still misses."""
    await registry.refresh_on_miss()
    try:
        return step(*args, **kwargs)
    except SnapshotMiss as miss:
        raise miss.refusal from None


async def _mirror(
    endpoint: str,
    dialect: str,
    raw: bytes,
    headers: Mapping[str, str],
    shadow_of: str,
    path_fields: Mapping[str, Any] | None,
) -> Reply | StreamReply:
    """One shadow route's copy of a finished request (gateway/core/shadow)."""
    caller = Caller(key=shadow.SHADOW_KEY, user_agent="switchyard-shadow", shadow_of=shadow_of)
    return await handle(endpoint, dialect, raw, headers, caller, path_fields)


def record_abandoned(endpoint: str, dialect: str, caller: Caller) -> None:
    """Journal a request whose client left before sending its whole body (status 499,
    as for any request the client abandoned)."""
    call = Call(endpoint, dialect, b"", caller)
    with contextlib.suppress(AuthenticationFailed):
        authorize(call)  # names the key, when there is a valid one
    call.finish(status=499, disconnected=True)


def refuse_unauthorized(endpoint: str, dialect: str, caller: Caller) -> Reply | None:
    """The 401 (journaled) for a caller without a usable key, or None for a good key.
    Decided from the headers alone, so the endpoint answers before reading the body."""
    call = Call(endpoint, dialect, b"", caller)
    try:
        authorize(call)
    except AuthenticationFailed as error:
        return call.error_reply(error)
    return None


def reject(endpoint: str, dialect: str, error: GatewayError, caller: Caller) -> Reply:
    """Answer (and journal) a request refused before its body was read (e.g. 413)."""
    return Call(endpoint, dialect, b"", caller).error_reply(error)


def _parse_json(raw: bytes, call: Call | None = None) -> dict[str, Any]:
    """The body parsed (a 400 for what is not a JSON object, or nests too deep); a long
    one's layout on ``call`` when its text is orjson's (``json_layout``: what a body
    passed through is sent from)."""
    if not raw.strip():
        raise InvalidRequest("the request body is empty; expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object")
    # a value nests no deeper than the brackets it has: most short bodies are not walked;
    # a long one is walked without counting first (an agent's has thousands of brackets,
    # counting them costs 80 us, and a long body with few has few containers to walk),
    # its members encoded one by one to find them in its text (the same encode)
    if len(raw) >= LONG_BODY:
        try:
            layout = json_layout.Layout.of(raw, body, MAX_JSON_DEPTH)
        except json_layout.TooDeep:
            raise InvalidRequest(TOO_DEEP) from None
        except orjson.JSONEncodeError:  # (a value orjson cannot write: walked)
            layout = None
            if _walks_deeper(body, MAX_JSON_DEPTH):
                raise InvalidRequest(TOO_DEEP) from None
        if call is not None:
            call.layout = layout
    elif raw.count(b"{") + raw.count(b"[") > MAX_JSON_DEPTH and _nests_deeper(body, MAX_JSON_DEPTH):
        raise InvalidRequest(TOO_DEEP)
    return body


# orjson reads deeper JSON than it writes (255 levels): a body nested deeper than this
# would fail later, when re-encoded for the upstream or the token estimate.
MAX_JSON_DEPTH = 128
TOO_DEEP = f"the request body nests deeper than {MAX_JSON_DEPTH} levels"
LONG_BODY = 16 * 1024  # bytes from which a body is walked without counting its brackets


def _nests_deeper(value: Any, limit: int) -> bool:
    """Whether ``value`` has containers more than ``limit`` levels deep. orjson's encoder
    counts the levels in C and refuses a value deeper than ``ORJSON_LEVELS``: wrapped in
    as many lists as that leaves above ``limit``, ``value`` encodes exactly when it is
    no deeper than ``limit`` (an agent's 143 KB request: 0.8 M instructions, the walk 1.6
    M). A value orjson refuses for another reason (a lone surrogate, which orjson never
    reads but a caller's value may hold) is walked."""
    wrappers = ORJSON_LEVELS - limit
    if wrappers < 0:
        return _walks_deeper(value, limit)
    for _ in range(wrappers):
        value = [value]
    try:
        orjson.dumps(value)
    except orjson.JSONEncodeError as exc:
        if str(exc) == "Recursion limit reached":
            return True
        for _ in range(wrappers):
            value = value[0]
        return _walks_deeper(value, limit)
    return False


ORJSON_LEVELS = 254  # the most levels orjson.dumps writes (255 raise)


def _walks_deeper(value: Any, limit: int) -> bool:
    """``_nests_deeper`` by a walk, level by level, keeping only the containers (a walk
    that queued every value, strings included, took 660 us over a 120 KB agent request;
    this takes 170)."""
    level = [value]
    depth = 1
    while level:
        if depth > limit:
            return True
        below: list[Any] = []
        for node in level:
            for child in node.values() if type(node) is dict else node:
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level = below
        depth += 1
    return False


def _route_for(call: Call, key: KeyEntry, model: Any) -> RouteEntry:
    if not isinstance(model, str) or not model:
        raise InvalidRequest("model is required and must be a string", param="model")
    route = registry.current().route(model)
    if route is None or not route.enabled:
        raise ModelNotFound(f"model {model!r} not found", param="model", code="model_not_found")
    call.route = route
    call.record.requested_route = route.name  # call.route becomes a fallback that answers
    return route


async def _fresh_route_for(call: Call, key: KeyEntry, model: Any) -> RouteEntry:
    """``_route_for``, looking once more after a registry check when the model is
    unknown here: its route may have been created a moment ago in another process."""
    try:
        return _route_for(call, key, model)
    except ModelNotFound:
        # look again whatever the check found: the watcher may have installed the
        # snapshot with the route while this request waited
        await registry.refresh_on_miss()
    return _route_for(call, key, model)


def _answering(key: KeyEntry, route: RouteEntry) -> list[RouteEntry]:
    """The other routes that may answer a request of ``key`` to ``route`` (its fallbacks
    and context-window fallbacks it may call, as ``routing`` takes them), for the hold."""
    reachable = context_windows.reachable_routes(registry.current(), route)[1:]
    return [r for r in reachable if r.enabled and context_windows.may_call(key, r)]


# What an endpoint nobody declared is held to: every policy (routed, priced by tokens,
# guardrails refused by their plane), never fewer than a declared one.
UNDECLARED = Endpoint("undeclared", None, TEXT)


def declaration(job: Job) -> Endpoint:
    """The declaration (``gateway.base.endpoints``) a job answers for: its own
    ``declared_as`` (a Gemini client's image output), else its call's endpoint."""
    return endpoints.declared(job.declared_as or job.call.endpoint) or UNDECLARED


async def _serve(job: Job) -> Reply | StreamReply:
    """The one request pipeline: route, prepare, admit (rate limits and budget), serve
    from the response cache if it may, else respond (upstream, through ``routing``)."""
    call, key = job.call, job.key
    job.check()
    route = await _fresh_route_for(call, key, job.body.get("model"))
    # before anything reads the route: another team's route tells its caller nothing
    allowed = authorization.decide(key, "route.call", route)
    if not allowed:
        raise PermissionDenied(allowed.reason)
    for choose in hooks.route_jobs:  # a feature's job for this route (Gemini image output)
        job = choose(job, route)
    for plane in hooks.call_guards:  # the guardrails that apply (the request's own field out)
        try:
            call.guard = plane.begin(job, route)
        except SnapshotMiss:
            call.guard = await _after_registry_check(plane.begin, job, route)
    await job.prepare(route)
    attribution.attribute(call.record, job.request, job.headers)
    if key.run is not None and key.run.context:  # an agent's token: its run's session,
        call.record.session = key.run.context  # whatever it says (its budget counts it)
    tags.attribute(call.record, job.body, job.headers, key)
    if job.request is not None and "metadata" in job.request.extra:  # the gateway's field
        tags.strip_request(job.request)
    elif job.request is None and "metadata" in job.body:  # a body that goes up as it came
        job.body = tags.without_tags(job.body)  # (embeddings, completions, images, speech)
    declared = declaration(job)  # what it costs: the budget hold follows from it
    # the request's tags with limits of their own (an untagged request: one test)
    named = call.record.tags
    tagged = subjects.tag_limits(registry.current().tag_limits, named) if named else ()
    hold = (
        budget_estimate.hold_for(
            key,
            route,
            job.estimate,
            job.max_output(),
            text_output=declared.generates_text,  # images, audio: priced other than tokens
            reachable=lambda: _answering(key, route),
            tags=tagged,
        )
        if declared.billable
        else None
    )
    # a hold that assumed each deployment's max output has it sent upstream (I13)
    job.caps_output = hold is not None and job.max_output() is None
    call.reservation = await limits.admit(
        key,
        route.name,
        job.estimate,
        hold,
        end_user=call.record.end_user,
        route_teams=route.teams,
        tags=tagged,
    )
    if call.guard is not None:
        await call.guard.before()  # pre_call: may rewrite the request, or refuse it
    request = job.request
    if (
        request is not None
        and route.cache_ttl  # off, this check is all the cache costs
        and (call.guard is None or not call.guard.checks_answer)
        and not request.mcp_servers
        and not route.mcp_servers  # an answer made with MCP tools is never replayed
    ):
        cached = await cache_lookup(call, route, request, key, job.headers)
        if cached is not None:
            return await cached_reply(call, request, cached)
    if (
        request is not None
        and hooks.answer_caches  # none installed: this check is all they cost
        and (call.guard is None or not call.guard.checks_answer)
        and not request.mcp_servers
        and not route.mcp_servers
    ):
        cached = await answer_cache_lookup(call, route, request, key, job.headers)
        if cached is not None:
            return await cached_reply(call, request, cached)
    return await job.respond(route)


# --- models -------------------------------------------------------------------------------


def list_models(key: KeyEntry) -> list[ModelInfo]:
    """The routes ``key`` may use, as model entries (no query: the snapshot)."""
    snapshot = registry.current()
    return [
        ModelInfo(id=name, created=route.created, owned_by="switchyard", display_name=name)
        for name, route in sorted(snapshot.routes.items())
        if route.enabled and authorization.decide(key, "route.call", route)
    ]


def multipart(endpoint: str) -> bool:
    """Whether ``endpoint``'s body is multipart/form-data (a feature's upload: media's
    images edits, transcriptions and translations), which the edge reads into one buffer
    and the job parses itself."""
    feature = None if endpoint in JOBS else hooks.endpoint_jobs.get(endpoint)
    return feature is not None and feature.multipart


_call_module.mirror_handler = _mirror  # Call.finish hands shadow mirrors to it

# What the endpoints, the console and the tests read here: the request types and helpers
# (from gateway.core.call) beside the pipeline's own entry points.
__all__ = [
    "Call",
    "Caller",
    "Headers",
    "Reply",
    "StreamReply",
    "client_status",
    "close_quietly",
    "handle",
    "key_refusal",
    "list_models",
    "multipart",
    "new_request_id",
    "protocol",
    "record_abandoned",
    "refuse_unauthorized",
    "reject",
    "retry_headers",
]
