"""What ``/v1/batches`` (OpenAI) and ``/v1/messages/batches`` (Anthropic) do: create
(validated line by line, stored as ``BatchLine`` rows in one transaction), retrieve,
list, cancel, delete and results, each in its API's shape (creating: checked here into a
``Draft``, which ``gateway.features.batches.holds.create`` saves once its hold is taken).

Blocking (ORM and store): the edge runs these in a thread. A key sees only its own
batches (another key's gets the 404 an unknown id gets); the master key sees all.
Every line's model must be a route the key may use, checked when the batch is
created (``validate``: an OpenAI batch with a bad line fails at once, with the line's
problem in its ``errors``; an Anthropic one is a 400); the runner sends each line
through the service as the batch's key, so rate limits, budgets and the journal apply
to every line."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from gateway.access import registry
from gateway.access.authorization import decide
from gateway.base.entries import KeyEntry, same_named
from gateway.base.errors import InvalidRequest, ModelNotFound, PermissionDenied
from gateway.features.batches import holds, native, upstreams, validate
from gateway.features.batches.files import api as files
from gateway.features.batches.files import store
from gateway.models.batches import Batch, BatchLine

# The endpoints a batch may target: OpenAI path -> (service endpoint, dialect).
OPENAI_ENDPOINTS: dict[str, tuple[str, str]] = {
    "/v1/chat/completions": ("chat", "openai"),
    "/v1/embeddings": ("embeddings", "openai"),
    "/v1/responses": ("chat", "responses"),
    "/v1/completions": ("completions", "openai"),
}
ANTHROPIC_ENDPOINT = "/v1/messages"
SERVICE_CALL = {**OPENAI_ENDPOINTS, ANTHROPIC_ENDPOINT: ("chat", "anthropic")}
WINDOW = timedelta(hours=24)
MAX_ANTHROPIC_LINES = 100_000
ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def visible(key: KeyEntry, api: str) -> Any:
    rows = Batch.objects.filter(api=api)
    return rows if key.is_master else rows.filter(key_id=key.id)


def get(key: KeyEntry, batch_id: str, api: str) -> Batch:
    row: Batch | None = visible(key, api).filter(id=batch_id).first()
    if row is None:
        what = "Batch" if api == "openai" else "Message Batch"
        raise ModelNotFound(f"No such {what}: {batch_id}", param="batch_id", code="not_found")
    return row


def check_model(key: KeyEntry, model: Any, where: str) -> None:
    """The 400/403/404 a line's model gets when the key may not use it."""
    if not isinstance(model, str) or not model:
        raise InvalidRequest(f"{where}: body.model is required and must be a string")
    route = registry.current().route(model)
    if route is None or not route.enabled:
        raise ModelNotFound(f"{where}: model {model!r} not found", code="model_not_found")
    may_call = decide(key, "route.call", route)  # its list and the route's teams
    if not may_call:
        raise PermissionDenied(f"{where}: {may_call.reason}")


def line_counts(batch_ids: list[str]) -> dict[str, Counter[str]]:
    """Each batch's lines by outcome ('' pending), in one query."""
    counts: dict[str, Counter[str]] = {batch_id: Counter() for batch_id in batch_ids}
    rows = (
        BatchLine.objects.filter(batch_id__in=batch_ids)
        .values_list("batch_id", "outcome")
        .annotate(n=Count("id"))
    )
    for batch_id, outcome, n in rows:
        counts[batch_id][outcome] += n
    return counts


def _new(key: KeyEntry, prefix: str, api: str, endpoint: str, total: int, **fields: Any) -> Batch:
    """A batch of ``key``'s (not saved yet) of ``total`` lines, made now, expiring after
    the completion window; its id ``prefix`` and 24 hex digits, as ``api`` names them."""
    now = timezone.now()
    return Batch(
        id=prefix + secrets.token_hex(12),
        api=api,
        endpoint=endpoint,
        key_id=key.id,
        key_name=key.name,
        total=total,
        created_at=now,
        expires_at=now + WINDOW,
        **fields,
    )


def _go_native(
    key: KeyEntry, batch: Batch, api: str, lines: list[tuple[str, dict[str, Any]]]
) -> None:
    """Mark the batch for the upstream's own batch API when its routes allow it
    (``gateway.features.batches.native.choose``; a 400 when a route insists and cannot),
    with what it holds of the key's budget (``gateway.features.batches.holds``)."""
    models = [str(body.get("model")) for _custom_id, body in lines]
    deployment = native.choose(api, models, batch.endpoint, [body for _id, body in lines], key)
    if deployment is not None:  # the deployment's batch API, maybe in another format
        batch.native = upstreams.native_api(deployment.provider)
        batch.deployment_id = deployment.id
        if holds.budgeted(key):
            batch.held_usd = holds.estimate(batch.endpoint, lines, deployment, batch.native)


@dataclass(slots=True)
class Draft:
    """A batch checked and ready to save (``holds.create`` takes its hold first)."""

    batch: Batch
    lines: list[tuple[str, dict[str, Any]]]

    def save(self) -> dict[str, Any]:
        _save(self.batch, self.lines)
        if self.batch.api == "openai":
            return openai_render(self.batch, Counter())
        return anthropic_render(self.batch, Counter(), "")


def _save(batch: Batch, lines: list[tuple[str, dict[str, Any]]]) -> None:
    with transaction.atomic():
        batch.save(force_insert=True)
        BatchLine.objects.bulk_create(
            [
                BatchLine(batch=batch, index=i, custom_id=custom_id, body=body)
                for i, (custom_id, body) in enumerate(lines)
            ],
            batch_size=1000,
        )


# --- OpenAI -------------------------------------------------------------------------------


def visible_file(key: KeyEntry, file_id: str) -> Any:
    """The input file ``key`` may read, or None."""
    return files.visible(key).filter(id=file_id).first()


def openai_create(key: KeyEntry, body: dict[str, Any]) -> Draft:
    """A new batch, checked, saved by ``Draft.save`` (``holds.create`` does both). Its
    parameters are checked here (a 400, as OpenAI answers), and so is its input file (one
    the key cannot read, or of another purpose, is a 400 naming ``input_file_id``); its
    lines too, but as OpenAI does, a file with bad lines makes a batch that ``failed``
    with the problems in its ``errors``."""
    endpoint = body.get("endpoint")
    if endpoint not in OPENAI_ENDPOINTS:
        supported = ", ".join(f"'{e}'" for e in OPENAI_ENDPOINTS)
        raise InvalidRequest(
            f"Invalid value: {endpoint!r}. Supported values are: {supported}.",
            param="endpoint",
            code="invalid_value",
        )
    if body.get("completion_window") != "24h":
        raise InvalidRequest(
            f"Invalid value: {body.get('completion_window')!r}. Supported values are: '24h'.",
            param="completion_window",
            code="invalid_value",
        )
    metadata = body.get("metadata")
    check_metadata(metadata)
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest("input_file_id is required", param="input_file_id")
    source = visible_file(key, file_id)
    if source is None:  # refused, as OpenAI refuses it: no batch is made
        raise InvalidRequest(
            f"Cannot find file {file_id}, or this API key does not have access to it.",
            param="input_file_id",
        )
    if source.purpose != "batch":
        raise InvalidRequest(
            f"file {file_id} has purpose {source.purpose!r}; a batch's input file must "
            "have purpose 'batch'",
            param="input_file_id",
        )
    with closing(store.current().lines(file_id)) as source_lines:  # type: ignore[type-var]
        lines, problems = validate.parse(key, source_lines, endpoint)
    fields = {"input_file_id": file_id, "completion_window": "24h", "metadata": metadata}
    batch = _new(key, "batch_", "openai", endpoint, len(lines), **fields)
    if problems:  # nothing runs; the batch says what is wrong with its file
        batch.status, batch.failed_at, batch.total = "failed", batch.created_at, 0
        batch.errors = {"object": "list", "data": problems}
        return Draft(batch, [])
    _go_native(key, batch, "openai", lines)
    return Draft(batch, lines)


def check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise InvalidRequest("metadata must be an object of at most 16 pairs", param="metadata")
    for name, value in metadata.items():
        if not isinstance(value, str):
            raise InvalidRequest(
                f"Invalid type for 'metadata.{name}': expected a string.",
                param=f"metadata.{name}",
                code="invalid_type",
            )
        if len(name) > 64 or len(value) > 512:
            raise InvalidRequest(
                "metadata keys are at most 64 characters, values strings of at most 512",
                param="metadata",
            )


def openai_render(batch: Batch, counts: Counter[str]) -> dict[str, Any]:
    done = counts["succeeded"] + counts["errored"] + counts["expired"] + counts["canceled"]
    pending_known = bool(counts) or batch.status not in Batch.UNFINISHED
    if batch.native and batch.status in Batch.UNFINISHED:
        pending_known = False  # the upstream's counts, copied at each poll
    completed = counts["succeeded"] if pending_known else batch.completed
    failed = (done - counts["succeeded"]) if pending_known else batch.failed
    return {
        "id": batch.id,
        "object": "batch",
        **same_named(batch, "endpoint errors input_file_id completion_window status"),
        "output_file_id": batch.output_file_id or None,
        "error_file_id": batch.error_file_id or None,
        "created_at": epoch(batch.created_at),
        "in_progress_at": epoch(batch.in_progress_at),
        "expires_at": epoch(batch.expires_at),
        "finalizing_at": epoch(batch.finalizing_at),
        "completed_at": epoch(batch.completed_at),
        "failed_at": epoch(batch.failed_at),
        "expired_at": epoch(batch.expired_at),
        "cancelling_at": epoch(batch.cancelling_at),
        "cancelled_at": epoch(batch.cancelled_at),
        "request_counts": {"total": batch.total, "completed": completed, "failed": failed},
        "metadata": batch.metadata,
    }


def openai_retrieve(key: KeyEntry, batch_id: str) -> dict[str, Any]:
    batch = get(key, batch_id, "openai")
    return openai_render(batch, line_counts([batch.id])[batch.id])


def openai_list(key: KeyEntry, query: dict[str, str]) -> dict[str, Any]:
    limit = files._limit(query.get("limit"), 20, 100)
    rows = files.page_after(visible(key, "openai"), query.get("after"), "desc")
    page = list(rows[: limit + 1])
    counts = line_counts([b.id for b in page[:limit]])
    data = [openai_render(b, counts[b.id]) for b in page[:limit]]
    return files.list_page(data, len(page) > limit)


def cancel(key: KeyEntry, batch_id: str, api: str) -> tuple[Batch, bool]:
    """Ask the runner to stop the batch; (the batch, whether this call or an earlier
    one asked it while it was still running)."""
    batch = get(key, batch_id, api)
    now = timezone.now()
    asked = Batch.objects.filter(id=batch.id, status__in=("validating", "in_progress")).update(
        status="cancelling", cancelling_at=now
    )
    batch.refresh_from_db()
    return batch, bool(asked) or batch.status == "cancelling"


def openai_cancel(key: KeyEntry, batch_id: str) -> dict[str, Any]:
    """As OpenAI: a batch cancelled already is returned as it is; one that ended
    otherwise (completed, failed, expired) is a 409."""
    batch, asked = cancel(key, batch_id, "openai")
    if not asked and batch.status != "cancelled":
        raise InvalidRequest(f"Cannot cancel a batch with status '{batch.status}'.", status=409)
    return openai_render(batch, line_counts([batch.id])[batch.id])


# --- Anthropic ----------------------------------------------------------------------------


def anthropic_create(key: KeyEntry, body: dict[str, Any]) -> Draft:
    """A checked batch, saved by ``Draft.save`` (``holds.create`` does both)."""
    requests = body.get("requests")
    if not isinstance(requests, list) or not requests:
        raise InvalidRequest("requests: a non-empty list of requests is required")
    if len(requests) > MAX_ANTHROPIC_LINES:
        raise InvalidRequest(f"requests: at most {MAX_ANTHROPIC_LINES} requests per batch")
    lines: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for i, item in enumerate(requests):
        where = f"requests.{i}"
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where}: must be an object with custom_id and params")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not ANTHROPIC_CUSTOM_ID.match(custom_id):
            raise InvalidRequest(f"{where}.custom_id: must be 1 to 64 letters, digits, '_' or '-'")
        if custom_id in seen:
            raise InvalidRequest(f"{where}.custom_id: {custom_id!r} is not unique in this batch")
        seen.add(custom_id)
        params = item.get("params")
        if not isinstance(params, dict):
            raise InvalidRequest(f"{where}.params: must be an object")
        if params.get("stream"):
            raise InvalidRequest(f"{where}.params.stream: streaming is not supported in a batch")
        if not isinstance(params.get("max_tokens"), int):
            raise InvalidRequest(f"{where}.params.max_tokens: Field required")
        if not isinstance(params.get("messages"), list):
            raise InvalidRequest(f"{where}.params.messages: Field required")
        check_model(key, params.get("model"), f"{where}.params")
        lines.append((custom_id, params))
    batch = _new(key, "msgbatch_", "anthropic", ANTHROPIC_ENDPOINT, len(lines))
    _go_native(key, batch, "anthropic", lines)
    return Draft(batch, lines)


def anthropic_render(batch: Batch, counts: Counter[str], base_url: str) -> dict[str, Any]:
    ended = batch.status not in Batch.UNFINISHED
    processing = (
        "ended" if ended else ("canceling" if batch.status == "cancelling" else "in_progress")
    )
    ended_at = batch.completed_at or batch.cancelled_at or batch.expired_at or batch.failed_at
    request_counts = {
        "processing": counts[""] if counts else (0 if ended else batch.total),
        "succeeded": counts["succeeded"],
        "errored": counts["errored"],
        "canceled": counts["canceled"],
        "expired": counts["expired"],
    }
    if batch.native and not ended:  # the upstream's counts, copied at each poll
        request_counts.update(
            processing=max(0, batch.total - batch.completed - batch.failed),
            succeeded=batch.completed,
            errored=batch.failed,
        )
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": processing,
        "request_counts": request_counts,
        "ended_at": rfc3339(ended_at) if ended else None,
        "created_at": rfc3339(batch.created_at),
        "expires_at": rfc3339(batch.expires_at),
        "archived_at": None,
        "cancel_initiated_at": rfc3339(batch.cancelling_at),
        "results_url": f"{base_url}/v1/messages/batches/{batch.id}/results" if ended else None,
    }


def anthropic_retrieve(key: KeyEntry, batch_id: str, base_url: str) -> dict[str, Any]:
    batch = get(key, batch_id, "anthropic")
    return anthropic_render(batch, line_counts([batch.id])[batch.id], base_url)


def anthropic_list(key: KeyEntry, query: dict[str, str], base_url: str) -> dict[str, Any]:
    """``limit`` (1-1000, 20), ``after_id`` / ``before_id`` (newest first)."""
    limit = files._limit(query.get("limit"), 20, 1000)
    rows = visible(key, "anthropic")
    before = query.get("before_id")
    if before:  # the page of newer batches just before ``before_id``
        rows = list(files.page_after(rows, before, "asc")[: limit + 1])
        has_more = len(rows) > limit
        page = list(reversed(rows[:limit]))
    else:
        found = list(files.page_after(rows, query.get("after_id"), "desc")[: limit + 1])
        has_more = len(found) > limit
        page = found[:limit]
    counts = line_counts([b.id for b in page])
    data = [anthropic_render(b, counts[b.id], base_url) for b in page]
    return {
        "data": data,
        "has_more": has_more,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
    }


def anthropic_cancel(key: KeyEntry, batch_id: str, base_url: str) -> dict[str, Any]:
    batch, _asked = cancel(key, batch_id, "anthropic")  # an ended batch stays as it is
    return anthropic_render(batch, line_counts([batch.id])[batch.id], base_url)


def anthropic_delete(key: KeyEntry, batch_id: str) -> dict[str, Any]:
    batch = get(key, batch_id, "anthropic")
    if batch.status in Batch.UNFINISHED:
        raise InvalidRequest(
            f"Batch {batch_id} cannot be deleted while it is processing; cancel it first"
        )
    batch.delete()
    return {"id": batch_id, "type": "message_batch_deleted"}


def anthropic_results(key: KeyEntry, batch_id: str) -> bytes:
    batch = get(key, batch_id, "anthropic")
    if batch.status in Batch.UNFINISHED:
        raise InvalidRequest(
            f"Batch {batch_id} has not finished processing; its results are not ready"
        )
    out = []
    for line in BatchLine.objects.filter(batch=batch).order_by("index").iterator():
        out.append(orjson.dumps({"custom_id": line.custom_id, "result": anthropic_result(line)}))
    return b"\n".join(out) + b"\n" if out else b""


def anthropic_result(line: BatchLine) -> dict[str, Any]:
    if line.outcome == "succeeded":
        return {"type": "succeeded", "message": line.response}
    if line.outcome == "errored":
        error = line.response if isinstance(line.response, dict) else {}
        if error.get("type") != "error":
            error = {"type": "error", "error": {"type": "api_error", "message": str(error)}}
        return {"type": "errored", "error": error}
    return {"type": line.outcome or "expired"}
