"""Batches submitted to the upstream's own batch API (``gateway.features.batches.upstreams``).

Choosing (``choose``, when a batch is created): each line's route says how its
batches run (``Route.batch_mode``): ``gateway`` runs the lines here; ``native`` and
``auto`` submit the batch upstream when every line resolves to one deployment whose
provider has a batch API that takes the batch's lines: in the batch's own format (an
OpenAI batch to an OpenAI upstream, a Message Batch to Anthropic), or translated by the
codecs for a batch API that has a ``wire`` codec (a chat, Messages or Responses batch to
Gemini's batch mode or to Bedrock batch inference), with at least as many lines as that
API's minimum and nothing it refuses (Bedrock: tools). When it cannot, ``auto`` runs the
lines here and ``native`` refuses the batch with a 400 saying why. A route with several
deployments sends its batch lines to its highest-weighted native-capable one.

Driving (``drive``, by the runner holding the batch's lease), the same for every
upstream through its ``UpstreamBatches``: an earlier submission whose answer was lost
is looked for (``recover``), then the lines, with their model rewritten to the
deployment's model, go up as one batch (``submit``); the upstream ids are saved at
once, so a restarted runner resumes polling instead of submitting again. The upstream
is polled every ``SWITCHYARD_BATCH_POLL_SECONDS``; its status and counts are copied
onto the batch, a cancel asked here is forwarded, and when the upstream batch ends its
results (``results``) become the lines' results under the caller's custom_ids. Each line
is priced from its usage at the catalog's batch prices for the model where it has them
(``batch_priced``), else at the deployment's prices times the batch price factor, and
journaled as one row tagged with the batch id, as a line the gateway ran is; then the
upstream's copies are cleaned (``finish``)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from gateway import codecs, journal
from gateway.access import registry
from gateway.base import db_work, lifecycle
from gateway.base.background import woken
from gateway.base.entries import MASTER, DeploymentEntry, KeyEntry, RouteEntry, same_named
from gateway.base.errors import GatewayError, InvalidRequest
from gateway.base.types import Usage
from gateway.codecs.anthropic import maps as anthropic_maps
from gateway.codecs.openai_chat import maps as chat_maps
from gateway.codecs.openai_responses import maps as responses_maps
from gateway.features.batches import translate, upstreams
from gateway.features.batches.upstreams.base import UpstreamBatches, batch_lines, transient
from gateway.limits import limits
from gateway.models.batches import Batch, BatchLine

log = logging.getLogger(__name__)

# OpenAI batch endpoint -> journal endpoint name
JOURNAL_ENDPOINT = {
    "/v1/chat/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/completions": "completions",
    "/v1/messages": "messages",
}
# OpenAI batch endpoint -> the dialect its lines speak (the journal's and the codecs')
JOURNAL_DIALECT = {"/v1/messages": "anthropic", "/v1/responses": "responses"}
USER_AGENT = "switchyard-batch"


# --- choosing ------------------------------------------------------------------------


NO_API, OTHER_FORMAT = "no batch API", "another format"  # the 400's first words say it


def refusal(
    deployment: DeploymentEntry, api: str, endpoint: str, bodies: list[dict[str, Any]]
) -> str:
    """Why the deployment's batch API cannot take the batch's lines ("" : it takes them,
    in the batch's own format or translated into its ``wire`` codec; ``api`` the batch's
    API)."""
    provider = deployment.provider
    theirs = upstreams.native_api(provider)
    if not theirs:
        return upstreams.why_not(provider) or NO_API
    least = upstreams.min_lines(provider)
    if len(bodies) < least:
        return (
            f"provider {provider.name!r} takes batches of at least {least} lines "
            "(batch_min_records)"
        )
    if theirs == api:
        return ""
    upstream = upstreams.UPSTREAMS[theirs]
    if not upstream.wire or not translate.translates(endpoint, upstream.wire):
        return OTHER_FORMAT
    return upstream.refuses(endpoint, bodies)


def _native_deployment(
    route: RouteEntry, api: str, endpoint: str, bodies: list[dict[str, Any]]
) -> DeploymentEntry | None:
    able = [d for d in route.deployments if not refusal(d, api, endpoint, bodies)]
    return max(able, key=lambda d: d.weight) if able else None


def _why_not(route: RouteEntry, api: str, endpoint: str, bodies: list[dict[str, Any]]) -> str:
    """What the route's deployments lack for a native batch (settings, lines, features)."""
    reasons = [refusal(d, api, endpoint, bodies) for d in route.deployments]
    return "; ".join(dict.fromkeys(r for r in reasons if r not in ("", NO_API, OTHER_FORMAT)))


def choose(
    api: str,
    models: list[str],
    endpoint: str = "",
    bodies: list[dict[str, Any]] | None = None,
    key: KeyEntry | None = None,
) -> DeploymentEntry | None:
    """The deployment a new batch of ``endpoint`` (one model, one body a line) goes to
    natively (its batch API: ``upstreams.native_api``), or None: the gateway runs it.
    Raises a 400 when a route says ``native`` and the batch cannot be. A batch that
    guardrails check (``gateway.features.guardrails``: by default, through ``key`` or a route, or
    asked for by a line) runs in the gateway, line by line: an upstream's batch API
    would take its lines unchecked."""
    bodies = bodies if bodies is not None else [{} for _model in models]
    snapshot = registry.current()
    routes: dict[str, RouteEntry] = {}
    for model in models:
        route = snapshot.route(model)
        if route is not None:
            routes[route.name] = route
    modes = {route.batch_mode for route in routes.values()}
    strict = sorted(name for name, route in routes.items() if route.batch_mode == "native")
    why = ""
    chosen: DeploymentEntry | None = None
    patterns = sorted(name for name in routes if any(ch in name for ch in "*?["))
    if "gateway" in modes:
        why = "another route of the batch runs its batches in the gateway (batch_mode gateway)"
    elif _guarded(snapshot, key, routes.values(), bodies):
        why = "guardrails check its lines, which an upstream's batch API would take unchecked"
    elif patterns:  # the upstream model is made per request from the name asked for
        why = f"route(s) {', '.join(patterns)} are patterns"
    else:
        found = {
            name: _native_deployment(route, api, endpoint, bodies) for name, route in routes.items()
        }
        missing = sorted(name for name, d in found.items() if d is None)
        ids = {d.id for d in found.values() if d is not None}
        if missing:
            why = (
                f"route(s) {', '.join(missing)} have no deployment whose upstream has a batch "
                f"API that takes {endpoint or api} lines"
            )
            lacks = [_why_not(routes[name], api, endpoint, bodies) for name in missing]
            why += "".join(f" ({reason})" for reason in lacks if reason)
        elif len(ids) > 1:
            why = "the batch's lines go to different deployments; a native batch needs one"
        else:
            chosen = next(d for d in found.values() if d is not None)
    if chosen is None and strict:
        raise InvalidRequest(
            f"route(s) {', '.join(strict)} run batches natively only (batch_mode native), "
            f"and this batch cannot be: {why}"
        )
    return chosen


def _guarded(
    snapshot: Any, key: KeyEntry | None, routes: Any, bodies: list[dict[str, Any]]
) -> bool:
    if not snapshot.guardrails:
        return False
    return bool(
        snapshot.default_guardrails
        or (key is not None and key.guardrails)
        or any(route.guardrails for route in routes)
        or any(isinstance(body, dict) and body.get("guardrails") for body in bodies)
    )


def find_deployment(batch: Batch) -> DeploymentEntry | None:
    snapshot = registry.current()
    for route in list(snapshot.routes.values()) + list(snapshot.patterns):
        for deployment in route.deployments:
            if deployment.id == batch.deployment_id:
                return deployment
    return None


# --- driving -------------------------------------------------------------------------


def _save_ids(pk: str, field: str, value: str) -> None:
    Batch.objects.filter(pk=pk).update(**{field: value})


def _status(pk: str) -> str:
    return str(Batch.objects.values_list("status", flat=True).get(pk=pk))


def _progress(pk: str, status: str, completed: int, failed: int) -> None:
    """Copy the upstream's progress (a cancel asked here is kept until it ends)."""
    fields: dict[str, Any] = {"completed": completed, "failed": failed}
    if status == "finalizing":
        fields["finalizing_at"] = timezone.now()
        Batch.objects.filter(pk=pk, status="in_progress").update(status="finalizing", **fields)
    Batch.objects.filter(pk=pk).update(**fields)


async def drive(batch: Batch, stop: asyncio.Event) -> str:
    """Submit (unless submitted) and poll until the upstream batch ends; the final
    status to give the batch ("" : stopped before the end, resume later)."""
    deployment = find_deployment(batch)
    if deployment is None:
        raise GatewayError("the batch's deployment no longer exists")
    client = upstreams.client(batch.native, deployment)
    poll = max(0.05, settings.SWITCHYARD_BATCH_POLL_SECONDS)
    if not batch.upstream_batch_id:
        # a POST may have made the batch upstream: find it before anything else
        if not await client.recover(batch, poll, stop):
            return ""  # stopped while looking: resume later
        if not batch.upstream_batch_id:
            if await db_work.arun(_status, batch.id) == "cancelling":
                return "cancelled"  # nothing went up: nothing to forward
            await transient(lambda: _submit(batch, deployment, client), poll, stop)
            if not batch.upstream_batch_id:
                return ""  # not submitted, or not known whether: the next claim looks
    forwarded = False
    while True:
        answer = await transient(lambda: client.retrieve(batch.upstream_batch_id), poll, stop)
        if answer is None:
            return ""  # stopped while the upstream was away: resume later
        status, completed, failed, ended = client.read(answer)
        if ended:
            return await _collect(batch, deployment, client, answer, status)
        local = await db_work.arun(_status, batch.id)
        if local == "cancelling" and not forwarded:
            with contextlib.suppress(GatewayError):  # already ending upstream: fine
                await client.cancel(batch.upstream_batch_id)
            forwarded = True
            continue  # read its state again at once
        await db_work.arun(_progress, batch.id, status, completed, failed)
        await woken(stop, poll)
        if stop.is_set() or lifecycle.closing():
            return ""  # the lease is lost, or we are going away: polling resumes later


async def _submit(batch: Batch, deployment: DeploymentEntry, client: UpstreamBatches) -> None:
    lines = await db_work.arun(batch_lines, batch.id)

    async def save(field: str, value: str) -> None:
        await db_work.arun(_save_ids, batch.id, field, value)

    await client.submit(batch, deployment, lines, save)


async def _collect(
    batch: Batch,
    deployment: DeploymentEntry,
    client: UpstreamBatches,
    answer: dict[str, Any],
    status: str,
) -> str:
    """The ended upstream batch's results onto the lines; the final status ("" : the
    results were not this batch's, look for it again)."""
    results, status = await client.results(batch, deployment, answer, status)
    if not status:
        return ""
    if status.startswith("failed:"):
        await _finish(batch, client)
        return status
    spent = await db_work.arun(_record_all, batch, deployment, results)
    key = key_for(batch)
    if key is not None and spent > 0:
        try:  # the key's and its team's budgets count the batch's spend
            await limits.add_spend(key, spent)
        except Exception as exc:  # the counters are away: the journal still has it
            log.warning("batch %s: spend not counted against the budget (%s)", batch.id, exc)
    await _finish(batch, client)
    return {"cancelled": "cancelled", "expired": "expired"}.get(status, "completed")


async def _finish(batch: Batch, client: UpstreamBatches) -> None:
    """The upstream's clean-up (its copies of the batch), never failing it."""
    try:
        await client.finish(batch)
    except GatewayError as exc:
        log.warning("batch %s: the upstream's copies were not deleted (%s)", batch.id, exc)


def usage_of(endpoint: str, body: Any) -> Usage:
    data = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return Usage()
    if endpoint == "/v1/messages":
        return anthropic_maps.usage(data)
    if endpoint == "/v1/responses":
        return responses_maps.parse_usage(data)
    return chat_maps.usage(data)


def batch_priced(deployment: DeploymentEntry) -> bool:
    """The catalog prices a native batch of this deployment itself (its ``batch`` tier),
    unless the provider sets its own ``batch_discount``."""
    own = deployment.provider.settings.get("batch_discount") not in (None, "")
    return "batch" in deployment.tier_prices and not own


def key_for(batch: Batch) -> KeyEntry | None:
    """The batch's key as the registry has it now (None: deleted since)."""
    if batch.key_id is None:
        return MASTER
    return registry.current().key_by_id(batch.key_id)


def _record_all(
    batch: Batch, deployment: DeploymentEntry, results: dict[str, tuple[str, int, Any]]
) -> Decimal:
    """Each line's result, priced at the batch price and journaled (a line that has a
    result keeps it: recording again after a restart changes nothing)."""
    # the catalog's batch prices where the model has them and the operator set no
    # discount of their own; else the standard prices times the API's batch factor
    tier = "batch" if batch_priced(deployment) else ""
    factor = Decimal(1) if tier else upstreams.price_factor(deployment.provider, batch.native)
    key = key_for(batch)
    now = timezone.now()
    spent = Decimal(0)
    for line in BatchLine.objects.filter(batch_id=batch.id, outcome="").order_by("index"):
        outcome, status, body = results.get(line.custom_id, ("", 0, None))
        if not outcome:
            continue
        usage = usage_of(batch.endpoint, body) if outcome == "succeeded" else Usage()
        cost = deployment.cost(usage, tier) * factor
        request_id = "req_" + uuid.uuid4().hex
        saved = BatchLine.objects.filter(id=line.id, outcome="").update(
            outcome=outcome,
            status_code=status or None,
            request_id=request_id if outcome in ("succeeded", "errored") else "",
            response=body,
            cost_usd=cost,
            finished_at=now,
        )
        if saved:
            spent += cost
        if saved and outcome in ("succeeded", "errored"):
            row = _journal_row(batch, deployment, line, status, body, usage, cost, request_id)
            row.key_prefix = key.prefix if key is not None else ""
            journal.record(row)
    return spent


def _journal_row(
    batch: Batch,
    deployment: DeploymentEntry,
    line: BatchLine,
    status: int,
    body: Any,
    usage: Usage,
    cost: Decimal,
    request_id: str,
) -> journal.Record:
    message = ""
    if status >= 400 and isinstance(body, dict):
        error = body.get("error")
        message = str(error.get("message", "")) if isinstance(error, dict) else str(body)[:500]
    dialect = JOURNAL_DIALECT.get(batch.endpoint, "openai")
    finish = ""
    if status < 400 and isinstance(body, dict):
        with contextlib.suppress(Exception):  # an answer the dialect cannot read: none
            finish = codecs.client(dialect).finish_reason_of(body)
    return journal.Record(
        request_id=request_id,
        created_at=time.time(),
        key_id=batch.key_id,
        key_name=batch.key_name,
        dialect=dialect,
        endpoint=JOURNAL_ENDPOINT.get(batch.endpoint, "chat"),
        finish_reason=finish,
        # the line as the caller wrote it and the answer it gets, as a line run here logs
        # them (SWITCHYARD_LOG_BODIES and redaction are the journal's)
        inbound_request=line.body,
        upstream_response=body,
        outbound_response=body,
        route=deployment.route,
        deployment_id=deployment.id,
        provider=deployment.provider.name,
        upstream_model=deployment.model,
        status=status,
        error_kind="upstream_error" if status >= 400 else "",
        error_message=message[:500],
        **same_named(usage, "input_tokens output_tokens cache_read_tokens cache_write_tokens"),
        cost_usd=cost,
        user_agent=USER_AGENT,
        session=batch.id,
    )
