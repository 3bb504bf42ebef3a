"""Batches submitted to the upstream's own batch API (``gateway.providers.batch_apis``).

Choosing (``choose``, when a batch is created): each line's route says how its
batches run (``Route.batch_mode``): ``gateway`` runs the lines here; ``native`` and
``auto`` submit the batch upstream when every line resolves to one deployment whose
provider has a batch API that takes the batch's lines: in the batch's own format (an
OpenAI batch to an OpenAI upstream, a Message Batch to Anthropic), or translated by the
codecs for a batch API in ``DRIVERS`` (a chat, Messages or Responses batch to Gemini's
batch mode or to Bedrock batch inference), with at least as many lines as that API's
minimum and nothing it refuses (Bedrock: tools). When it cannot, ``auto`` runs the lines here
and ``native`` refuses the batch with a 400 saying why. A route with several
deployments sends its batch lines to its highest-weighted native-capable one.

Driving (``drive``, by the runner holding the batch's lease): the lines, with their
model rewritten to the deployment's model, go up as one batch (OpenAI: the input file
uploaded to the upstream's ``/files`` first); the upstream ids are saved at once, so a
restarted runner resumes polling instead of submitting again. The upstream is polled
every ``SWITCHYARD_BATCH_POLL_SECONDS``; its status and counts are copied onto the
batch, a cancel asked here is forwarded, and when the upstream batch ends its results
(OpenAI: output and error files; Anthropic: the results JSONL) become the lines'
results under the caller's custom_ids. Each line is priced from its usage at the
deployment's prices times the batch price factor (half, for both) and journaled as
one row tagged with the batch id, as a line the gateway ran is.

A Message Batch submitted once, even across a crash (``_submit``, ``_recover``).
Anthropic's API takes no idempotency key and keeps no metadata on a batch, so a
gateway that dies after its POST reached Anthropic but before the answer's id was saved
cannot ask "did my batch get made?". Instead: (1) the batch is marked ``submitting_at``
(saved) before the POST; (2) each line goes up under the custom_id
``<our batch id>-<line index>`` (the caller's custom_ids are mapped back by index: they
may be 64 characters themselves), so a batch's results say whose it is; (3) a runner
that finds the mark and no upstream id, or whose POST failed without a clear refusal (no
answer, a 5xx, a 429), never POSTs again at once: it lists the workspace's batches
created from ``RECOVERY_SKEW`` before the mark to ``RECOVERY_WINDOW`` after it, with as
many requests as ours and not already another batch's of ours. None: the POST never
made one, and the batch is submitted (again marked). Some: each is watched until it
ends and its results are read; the one whose custom_ids carry our batch id is adopted,
the others are left alone, and if none is ours the batch is submitted then. Nothing is
adopted on the strength of its size and time alone: another client of the same
workspace may have sent a batch of the same size in those minutes, and adopting it would
hand the caller someone else's answers and forward our cancels to their batch. The cost
of that certainty is time: while candidates are watched (up to their 24 h) the batch
shows no progress and a cancel waits for them to end (ours is never cancelled blind:
if one is found ours the batch ends with its results; if none is, nothing is sent). The ids are
checked once more when results arrive: results not carrying our id are never recorded
(the upstream id is dropped and the search runs again)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.conf import settings
from django.utils import timezone

from gateway import journal
from gateway.base.entries import MASTER, DeploymentEntry, KeyEntry, RouteEntry
from gateway.batches import native_bedrock, native_gemini, translate
from gateway.codecs.anthropic import maps as anthropic_maps
from gateway.codecs.openai_chat import maps as chat_maps
from gateway.codecs.openai_responses import maps as responses_maps
from gateway.errors import GatewayError, InvalidRequest
from gateway.models.batches import Batch, BatchLine
from gateway.policy import limits, registry
from gateway.providers import batch_apis
from gateway.server import db_work, runtime
from gateway.types import Usage

log = logging.getLogger(__name__)

# OpenAI batch endpoint -> journal endpoint name
JOURNAL_ENDPOINT = {
    "/v1/chat/completions": "chat",
    "/v1/embeddings": "embeddings",
    "/v1/responses": "responses",
    "/v1/completions": "completions",
    "/v1/messages": "messages",
}
USER_AGENT = "switchyard-batch"
# Batch APIs whose requests are in the upstream's own format, each driven by a module
# (Batch.native -> module): ``WIRE`` (the codec its requests speak, which
# ``translate`` writes), ``client(provider)``, ``submit``, ``read`` and ``results``.
# Optional: ``refuses(endpoint, bodies)`` (why it cannot take these lines, "" : it can)
# and ``finish(batch, client)`` (its clean-up once the results are in).
DRIVERS: dict[str, Any] = {"gemini": native_gemini, "bedrock": native_bedrock}
# Looking for a Message Batch whose POST answer was lost: batches created from this
# long before the mark (the upstream's clock may be behind ours) to this long after it
# (the POST may have taken that long to send and be carried out).
RECOVERY_SKEW = timedelta(minutes=10)
RECOVERY_WINDOW = timedelta(minutes=30)


# --- choosing ------------------------------------------------------------------------


NO_API, OTHER_FORMAT = "no batch API", "another format"  # the 400's first words say it


def refusal(
    deployment: DeploymentEntry, api: str, endpoint: str, bodies: list[dict[str, Any]]
) -> str:
    """Why the deployment's batch API cannot take the batch's lines ("" : it takes them,
    in the batch's own format or translated by its driver; ``api`` the batch's API)."""
    provider = deployment.provider
    theirs = batch_apis.native_api(provider)
    if not theirs:
        return batch_apis.why_not(provider) or NO_API
    least = batch_apis.min_lines(provider)
    if len(bodies) < least:
        return (
            f"provider {provider.name!r} takes batches of at least {least} lines "
            "(batch_min_records)"
        )
    if theirs == api:
        return ""
    driver = DRIVERS.get(theirs)
    if driver is None or not translate.translates(endpoint, deployment, driver.WIRE):
        return OTHER_FORMAT
    refuses = getattr(driver, "refuses", None)
    return str(refuses(endpoint, bodies)) if refuses is not None else ""


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
    api: str, models: list[str], endpoint: str = "", bodies: list[dict[str, Any]] | None = None
) -> DeploymentEntry | None:
    """The deployment a new batch of ``endpoint`` (one model, one body a line) goes to
    natively (its batch API: ``batch_apis.native_api``), or None: the gateway runs it.
    Raises a 400 when a route says ``native`` and the batch cannot be."""
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


def upstream_body(body: dict[str, Any], deployment: DeploymentEntry) -> dict[str, Any]:
    """A line as the upstream gets it: the route's default parameters under the
    caller's, the model the deployment's."""
    route = registry.current().routes.get(deployment.route)
    defaults = route.default_params if route is not None else {}
    return {**defaults, **body, "model": deployment.model}


def find_deployment(batch: Batch) -> DeploymentEntry | None:
    snapshot = registry.current()
    for route in list(snapshot.routes.values()) + list(snapshot.patterns):
        for deployment in route.deployments:
            if deployment.id == batch.deployment_id:
                return deployment
    return None


# --- driving -------------------------------------------------------------------------


def _lines(pk: str) -> list[tuple[int, str, Any]]:
    return list(
        BatchLine.objects.filter(batch_id=pk)
        .order_by("index")
        .values_list("id", "custom_id", "body")
    )


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


def _client(api: str, deployment: DeploymentEntry) -> Any:
    """The client of the deployment's batch API."""
    driver = DRIVERS.get(api)
    return (
        driver.client(deployment.provider, deployment)
        if driver
        else batch_apis.client_for(deployment.provider)
    )


async def drive(batch: Batch, stop: asyncio.Event) -> str:
    """Submit (unless submitted) and poll until the upstream batch ends; the final
    status to give the batch ("" : stopped before the end, resume later)."""
    deployment = find_deployment(batch)
    if deployment is None:
        raise GatewayError("the batch's deployment no longer exists")
    client = _client(batch.native, deployment)
    poll = max(0.05, settings.SWITCHYARD_BATCH_POLL_SECONDS)
    if not batch.upstream_batch_id:
        # a POST may have made the batch upstream: find it before anything else
        marked = batch.native == "anthropic" and batch.submitting_at is not None
        if marked and not await _recover(batch, client, poll, stop):
            return ""  # stopped while looking: resume later
        if not batch.upstream_batch_id:
            if await db_work.arun(_status, batch.id) == "cancelling":
                return "cancelled"  # nothing went up: nothing to forward
            await _transient(lambda: _submit(batch, deployment, client), poll, stop)
            if not batch.upstream_batch_id:
                return ""  # not submitted, or not known whether: the next claim looks
    forwarded = False
    while True:
        answer = await _transient(lambda: client.retrieve(batch.upstream_batch_id), poll, stop)
        if answer is None:
            return ""  # stopped while the upstream was away: resume later
        status, completed, failed, ended = _read(batch.native, answer)
        if ended:
            return await _collect(batch, deployment, client, answer, status)
        local = await db_work.arun(_status, batch.id)
        if local == "cancelling" and not forwarded:
            with contextlib.suppress(GatewayError):  # already ending upstream: fine
                await client.cancel(batch.upstream_batch_id)
            forwarded = True
            continue  # read its state again at once
        await db_work.arun(_progress, batch.id, status, completed, failed)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), poll)
        if stop.is_set() or runtime.closing():
            return ""  # the lease is lost, or we are going away: polling resumes later


TRIES = 5


async def _transient(call: Any, poll: float, stop: asyncio.Event) -> Any:
    """``call()``, tried again (up to ``TRIES`` times, waiting longer each time) while the
    upstream is away (a 429, a 5xx, no connection); its refusals (4xx) are raised at once
    and fail the batch. None: stopped meanwhile."""
    wait = poll
    for attempt in range(TRIES):
        try:
            return await call()
        except GatewayError as exc:
            if getattr(exc, "status", 500) < 500 and getattr(exc, "status", 0) != 429:
                raise
            if attempt == TRIES - 1:
                raise
            log.warning("native batch: upstream away, trying again (%s)", exc)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if stop.is_set() or runtime.closing():
            return None
        wait = min(wait * 2, 300.0)
    return None


async def _submit(batch: Batch, deployment: DeploymentEntry, client: Any) -> None:
    lines = await db_work.arun(_lines, batch.id)
    if batch.native in DRIVERS:

        async def save(field: str, value: str) -> None:
            await db_work.arun(_save_ids, batch.id, field, value)

        await DRIVERS[batch.native].submit(batch, deployment, client, lines, save)
        return
    if batch.native == "openai" and batch.upstream_file_id:
        # uploaded before: the batch may have been made too, its answer lost (a crash,
        # a cut connection); then it is found, not made twice
        found = await client.find(batch.upstream_file_id)
        if found:
            batch.upstream_batch_id = found
            await db_work.arun(_save_ids, batch.id, "upstream_batch_id", found)
            return
    if batch.native == "openai" and not batch.upstream_file_id:
        content = b"\n".join(
            orjson.dumps(
                {
                    "custom_id": custom_id,
                    "method": "POST",
                    "url": client.endpoint(batch.endpoint),
                    "body": upstream_body(body, deployment),
                }
            )
            for _id, custom_id, body in lines
        )
        file_id = await client.upload(content + b"\n", f"{batch.id}.jsonl")
        batch.upstream_file_id = file_id  # kept: a retry or a restart uploads it once
        await db_work.arun(_save_ids, batch.id, "upstream_file_id", file_id)
    if batch.native == "openai":
        made = await client.create(
            batch.upstream_file_id, batch.endpoint, {"switchyard_batch": batch.id}
        )
    else:
        if batch.submitting_at is not None:
            return  # an earlier try may have made it: ``_recover`` decides, not a retry
        requests = [
            {
                "custom_id": upstream_custom_id(batch.id, index),
                "params": upstream_body(body, deployment),
            }
            for index, (_id, _custom_id, body) in enumerate(lines)
        ]
        batch.submitting_at = await db_work.arun(_mark_submitting, batch.id)
        made = await client.create(requests)
        batch.upstream_batch_id = await db_work.arun(_adopt, batch.id, str(made["id"]))
        if batch.upstream_batch_id != str(made["id"]):  # another runner saved one first
            with contextlib.suppress(GatewayError):
                await client.cancel(str(made["id"]))
        return
    batch.upstream_batch_id = str(made["id"])
    await db_work.arun(_save_ids, batch.id, "upstream_batch_id", batch.upstream_batch_id)


def upstream_custom_id(batch_id: str, index: int) -> str:
    """The custom_id line ``index`` of our batch goes up under (Anthropic allows
    ``^[a-zA-Z0-9_-]{1,64}$``; ours are ``msgbatch_`` and 24 hex digits, 33 in all)."""
    return f"{batch_id}-{index}"


def line_index(batch_id: str, upstream_id: str) -> int | None:
    """The line index an upstream custom_id names when it is one of ``batch_id``'s."""
    head, _, tail = upstream_id.rpartition("-")
    return int(tail) if head == batch_id and tail.isdigit() else None


def _mark_submitting(pk: str) -> datetime:
    moment = timezone.now()
    Batch.objects.filter(pk=pk).update(submitting_at=moment)
    return moment


def _adopt(pk: str, upstream_id: str) -> str:
    """Save ``upstream_id`` as the batch's unless one is saved already; the one in force."""
    Batch.objects.filter(pk=pk, upstream_batch_id="").update(upstream_batch_id=upstream_id)
    return str(Batch.objects.values_list("upstream_batch_id", flat=True).get(pk=pk))


def _known_upstream_ids(pk: str, ids: list[str]) -> set[str]:
    """Those of ``ids`` another of our batches already runs as."""
    rows = Batch.objects.filter(upstream_batch_id__in=ids).exclude(pk=pk)
    return set(rows.values_list("upstream_batch_id", flat=True))


def _requests_in(answer: dict[str, Any]) -> int:
    counts = answer.get("request_counts") or {}
    return sum(v for v in counts.values() if isinstance(v, int))


async def _recover(batch: Batch, client: Any, poll: float, stop: asyncio.Event) -> bool:
    """After a Message Batch POST whose answer never got saved: adopt the upstream batch
    it made, when one is found to be ours, or leave ``upstream_batch_id`` empty (none
    was made: submit). False when stopped before knowing (resume later). See the module
    docstring for why candidates are verified by their results, never by their look."""
    mark = batch.submitting_at
    assert mark is not None
    listed = await _transient(lambda: client.created_since(mark - RECOVERY_SKEW), poll, stop)
    if listed is None:
        return False
    until = mark + RECOVERY_WINDOW
    sized = [
        str(item["id"])
        for item in listed
        if item.get("id")
        and _requests_in(item) == batch.total
        and (batch_apis.parse_moment(item.get("created_at")) or until) <= until
    ]
    taken = await db_work.arun(_known_upstream_ids, batch.id, sized) if sized else set()
    candidates = [c for c in sized if c not in taken]
    if candidates:
        log.warning(
            "batch %s: its submission's answer was lost; %d upstream batch(es) may be it, "
            "watched until they end to read whose they are",
            batch.id,
            len(candidates),
        )
    while candidates:
        for candidate in list(candidates):
            answer = await _transient(lambda c=candidate: client.retrieve(c), poll, stop)
            if answer is None:
                return False
            if answer.get("processing_status") != "ended":
                continue
            ours = False
            if answer.get("results_url"):
                data = await _transient(
                    lambda a=answer: client.results(a["results_url"]), poll, stop
                )
                if data is None:
                    return False
                ours = any(
                    line_index(batch.id, str(i.get("custom_id"))) is not None for i in _jsonl(data)
                )
            if ours:
                batch.upstream_batch_id = await db_work.arun(_adopt, batch.id, candidate)
                log.warning("batch %s: found upstream as %s", batch.id, candidate)
                return True
            candidates.remove(candidate)  # someone else's: left alone
        if candidates:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), poll)
            if stop.is_set() or runtime.closing():
                return False
    batch.submitting_at = None  # none is ours: the POST made nothing; submit again
    await db_work.arun(_clear_mark, batch.id)
    return True


def _drop_upstream_id(pk: str, upstream_id: str) -> None:
    Batch.objects.filter(pk=pk, upstream_batch_id=upstream_id).update(upstream_batch_id="")


def _clear_mark(pk: str) -> None:
    Batch.objects.filter(pk=pk, upstream_batch_id="").update(submitting_at=None)


def _read(api: str, answer: dict[str, Any]) -> tuple[str, int, int, bool]:
    """(status in OpenAI's words, completed, failed, ended) of an upstream batch."""
    if api in DRIVERS:
        result: tuple[str, int, int, bool] = DRIVERS[api].read(answer)
        return result
    counts = answer.get("request_counts") or {}
    if api == "openai":
        status = str(answer.get("status", ""))
        ended = status in ("completed", "failed", "expired", "cancelled")
        return status, int(counts.get("completed") or 0), int(counts.get("failed") or 0), ended
    processing = answer.get("processing_status")
    failed = sum(int(counts.get(k) or 0) for k in ("errored", "canceled", "expired"))
    status = {"in_progress": "in_progress", "canceling": "cancelling"}.get(
        str(processing), "completed"
    )
    return status, int(counts.get("succeeded") or 0), failed, processing == "ended"


async def _collect(
    batch: Batch, deployment: DeploymentEntry, client: Any, answer: dict[str, Any], status: str
) -> str:
    """The ended upstream batch's results onto the lines; the final status."""
    results: dict[str, tuple[str, int, Any]] = {}  # custom_id -> (outcome, status, body)
    if batch.native in DRIVERS:
        results, status = await DRIVERS[batch.native].results(
            batch, deployment, client, answer, status
        )
        if status.startswith("failed:"):
            await _finish(batch, client)
            return status
    elif batch.native == "openai":
        for field in ("output_file_id", "error_file_id"):
            if answer.get(field):
                for item in _jsonl(await client.content(answer[field])):
                    results[str(item.get("custom_id"))] = _openai_result(item)
        if status == "failed" and not results:
            return "failed:" + _errors_text(answer)
    else:
        items = (
            _jsonl(await client.results(answer["results_url"])) if answer.get("results_url") else []
        )
        if batch.submitting_at is None:  # submitted before lines carried our id
            results = {str(i.get("custom_id")): _anthropic_result(i) for i in items}
        else:
            callers = [custom_id for _id, custom_id, _body in await db_work.arun(_lines, batch.id)]
            for item in items:
                index = line_index(batch.id, str(item.get("custom_id")))
                if index is not None and index < len(callers):
                    results[callers[index]] = _anthropic_result(item)
            if items and not results:  # not our batch's results: never record them
                log.error("batch %s: upstream batch %s is not ours; looking again", batch.id,
                          batch.upstream_batch_id)  # fmt: skip
                await db_work.arun(_drop_upstream_id, batch.id, batch.upstream_batch_id)
                return ""
        status = "cancelled" if answer.get("cancel_initiated_at") else "completed"
    spent = await db_work.arun(_record_all, batch, deployment, results)
    key = _key_of(batch)
    if key is not None and spent > 0:
        try:  # the key's and its team's budgets count the batch's spend
            await limits.add_spend(key, spent)
        except Exception as exc:  # the counters are away: the journal still has it
            log.warning("batch %s: spend not counted against the budget (%s)", batch.id, exc)
    if batch.native == "openai" and batch.upstream_file_id:
        with contextlib.suppress(GatewayError):  # the upstream keeps it otherwise
            await client.delete_file(batch.upstream_file_id)
    await _finish(batch, client)
    return {"cancelled": "cancelled", "expired": "expired"}.get(status, "completed")


async def _finish(batch: Batch, client: Any) -> None:
    """The driver's clean-up (the upstream's copies of the batch), never failing it."""
    finish = getattr(DRIVERS.get(batch.native), "finish", None)
    if finish is None:
        return
    try:
        await finish(batch, client)
    except GatewayError as exc:
        log.warning("batch %s: the upstream's copies were not deleted (%s)", batch.id, exc)


def _errors_text(answer: dict[str, Any]) -> str:
    errors = (answer.get("errors") or {}).get("data") or []
    return "; ".join(str(e.get("message", e)) for e in errors)[:500] or "the upstream batch failed"


def _jsonl(data: bytes) -> list[dict[str, Any]]:
    out = []
    for text in data.splitlines():
        if text.strip():
            with contextlib.suppress(orjson.JSONDecodeError):
                item = orjson.loads(text)
                if isinstance(item, dict):
                    out.append(item)
    return out


def _openai_result(item: dict[str, Any]) -> tuple[str, int, Any]:
    response = item.get("response")
    if isinstance(response, dict):
        status = int(response.get("status_code") or 500)
        return ("succeeded" if status < 400 else "errored"), status, response.get("body")
    error = item.get("error") or {}
    reason = str(error.get("code") or "")
    if reason == "batch_expired":
        return "expired", 0, None
    if reason == "batch_cancelled":
        return "canceled", 0, None
    return "errored", 500, {"error": error}


def _anthropic_result(item: dict[str, Any]) -> tuple[str, int, Any]:
    result = item.get("result") or {}
    kind = result.get("type")
    if kind == "succeeded":
        return "succeeded", 200, result.get("message")
    if kind == "errored":
        return "errored", 400, result.get("error")
    return ("canceled" if kind == "canceled" else "expired"), 0, None


def usage_of(endpoint: str, body: Any) -> Usage:
    data = body.get("usage") if isinstance(body, dict) else None
    if not isinstance(data, dict):
        return Usage()
    if endpoint == "/v1/messages":
        return anthropic_maps.usage(data)
    if endpoint == "/v1/responses":
        return responses_maps.parse_usage(data)
    return chat_maps.usage(data)


def _key_of(batch: Batch) -> KeyEntry | None:
    if batch.key_id is None:
        return MASTER
    for entry in registry.current().keys.values():
        if entry.id == batch.key_id and entry.end_user is None:
            return entry
    return None


def _record_all(
    batch: Batch, deployment: DeploymentEntry, results: dict[str, tuple[str, int, Any]]
) -> Decimal:
    """Each line's result, priced at the batch price and journaled (a line that has a
    result keeps it: recording again after a restart changes nothing)."""
    factor = batch_apis.price_factor(deployment.provider, batch.native)
    now = timezone.now()
    spent = Decimal(0)
    for line in BatchLine.objects.filter(batch_id=batch.id, outcome="").order_by("index"):
        outcome, status, body = results.get(line.custom_id, ("", 0, None))
        if not outcome:
            continue
        usage = usage_of(batch.endpoint, body) if outcome == "succeeded" else Usage()
        cost = deployment.cost(usage) * factor
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
            journal.record(
                _journal_row(batch, deployment, line, status, body, usage, cost, request_id)
            )
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
    return journal.Record(
        request_id=request_id,
        created_at=time.time(),
        key_id=batch.key_id,
        key_name=batch.key_name,
        dialect="anthropic" if batch.endpoint == "/v1/messages" else "openai",
        endpoint=JOURNAL_ENDPOINT.get(batch.endpoint, "chat"),
        route=deployment.route,
        deployment_id=deployment.id,
        provider=deployment.provider.name,
        upstream_model=deployment.model,
        status=status,
        error_kind="upstream_error" if status >= 400 else "",
        error_message=message[:500],
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cost_usd=cost,
        user_agent=USER_AGENT,
        session=batch.id,
    )
