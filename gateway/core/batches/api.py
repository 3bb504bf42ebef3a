"""What ``/v1/batches`` (OpenAI) and ``/v1/messages/batches`` (Anthropic) do: create
(validated line by line, stored as ``BatchLine`` rows in one transaction), retrieve,
list, cancel, delete and results, each in its API's shape.

Blocking (ORM and store): the edge runs these in a thread. A key sees only its own
batches (another key's gets the 404 an unknown id gets); the master key sees all.
Every line's model must be a route the key may use, checked when the batch is
created; the runner sends each line through the service as the batch's key, so rate
limits, budgets and the journal apply to every line."""

from __future__ import annotations

import re
import secrets
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import orjson
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from gateway.core.batches import native
from gateway.core.batches.models import Batch, BatchLine
from gateway.core.files import api as files
from gateway.core.files import store
from gateway.errors import InvalidRequest, ModelNotFound, PermissionDenied
from gateway.policy import registry
from gateway.policy.registry import KeyEntry

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
MAX_OPENAI_LINES = 50_000
MAX_ANTHROPIC_LINES = 100_000
ANTHROPIC_CUSTOM_ID = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
OPENAI_STATUSES = (
    "validating", "in_progress", "finalizing", "completed", "failed", "expired",
    "cancelling", "cancelled",
)  # fmt: skip


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def rfc3339(moment: datetime | None) -> str | None:
    return moment.isoformat().replace("+00:00", "Z") if moment is not None else None


def visible(key: KeyEntry, api: str) -> Any:
    rows = Batch.objects.filter(api=api)
    return rows if key.is_master else rows.filter(key_id=key.id)


def get(key: KeyEntry, batch_id: str, api: str) -> Batch:
    row = visible(key, api).filter(id=batch_id).first()
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
    if not key.allows(route.name):
        raise PermissionDenied(f"{where}: this API key may not use model {route.name!r}")


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


def _go_native(batch: Batch, api: str, lines: list[tuple[str, dict[str, Any]]]) -> None:
    """Mark the batch for the upstream's own batch API when its routes allow it
    (``gateway.core.batches.native.choose``; a 400 when a route insists and cannot)."""
    deployment = native.choose(api, [str(body.get("model")) for _custom_id, body in lines])
    if deployment is not None:
        batch.native, batch.deployment_id = api, deployment.id


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


def openai_parse_lines(key: KeyEntry, raw: bytes, endpoint: str) -> list[tuple[str, dict]]:
    """The lines of a batch input file, or a 400 naming the first bad line."""
    lines: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    for number, text in enumerate(raw.splitlines(), start=1):
        if not text.strip():
            continue
        where = f"line {number}"
        try:
            item = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise InvalidRequest(f"{where} of the input file is not valid JSON") from None
        if not isinstance(item, dict):
            raise InvalidRequest(f"{where} of the input file must be a JSON object")
        custom_id = item.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            raise InvalidRequest(f"{where}: custom_id is required and must be a string")
        if custom_id in seen:
            raise InvalidRequest(
                f"{where}: the custom_id {custom_id!r} is used by an earlier line; "
                "custom_id must be unique within a batch"
            )
        seen.add(custom_id)
        if item.get("method") != "POST":
            raise InvalidRequest(f"{where}: method must be 'POST'")
        if item.get("url") != endpoint:
            raise InvalidRequest(
                f"{where}: url {item.get('url')!r} does not match the batch's endpoint {endpoint!r}"
            )
        body = item.get("body")
        if not isinstance(body, dict):
            raise InvalidRequest(f"{where}: body must be a JSON object")
        if body.get("stream"):
            raise InvalidRequest(f"{where}: streaming is not supported in a batch")
        check_model(key, body.get("model"), where)
        lines.append((custom_id, body))
        if len(lines) > MAX_OPENAI_LINES:
            raise InvalidRequest(f"a batch may hold at most {MAX_OPENAI_LINES} requests")
    if not lines:
        raise InvalidRequest("the input file holds no requests", param="input_file_id")
    return lines


def openai_create(key: KeyEntry, body: dict[str, Any]) -> dict[str, Any]:
    endpoint = body.get("endpoint")
    if endpoint not in OPENAI_ENDPOINTS:
        raise InvalidRequest(
            f"endpoint must be one of {sorted(OPENAI_ENDPOINTS)}", param="endpoint"
        )
    if body.get("completion_window") != "24h":
        raise InvalidRequest("completion_window must be '24h'", param="completion_window")
    metadata = body.get("metadata")
    check_metadata(metadata)
    file_id = body.get("input_file_id")
    if not isinstance(file_id, str) or not file_id:
        raise InvalidRequest("input_file_id is required", param="input_file_id")
    source = files.get(key, file_id)
    if source.purpose != "batch":
        raise InvalidRequest(
            f"file {file_id} has purpose {source.purpose!r}; a batch's input file must "
            "have purpose 'batch'",
            param="input_file_id",
        )
    lines = openai_parse_lines(key, store.current().read(file_id), endpoint)
    now = timezone.now()
    batch = Batch(
        id="batch_" + secrets.token_hex(12),
        api="openai",
        endpoint=endpoint,
        key_id=key.id,
        key_name=key.name,
        input_file_id=file_id,
        completion_window="24h",
        metadata=metadata,
        total=len(lines),
        created_at=now,
        expires_at=now + WINDOW,
    )
    _go_native(batch, "openai", lines)
    _save(batch, lines)
    return openai_render(batch, Counter())


def check_metadata(metadata: Any) -> None:
    if metadata is None:
        return
    if not isinstance(metadata, dict) or len(metadata) > 16:
        raise InvalidRequest("metadata must be an object of at most 16 pairs", param="metadata")
    for name, value in metadata.items():
        if len(name) > 64 or not isinstance(value, str) or len(value) > 512:
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
        "endpoint": batch.endpoint,
        "errors": batch.errors,
        "input_file_id": batch.input_file_id,
        "completion_window": batch.completion_window,
        "status": batch.status,
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
    batch, asked = cancel(key, batch_id, "openai")
    if not asked:
        raise InvalidRequest(
            f"Cannot cancel a batch with status {batch.status!r}", code="batch_not_cancellable"
        )
    return openai_render(batch, line_counts([batch.id])[batch.id])


# --- Anthropic ----------------------------------------------------------------------------


def anthropic_create(key: KeyEntry, body: dict[str, Any]) -> dict[str, Any]:
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
    now = timezone.now()
    batch = Batch(
        id="msgbatch_" + secrets.token_hex(12),
        api="anthropic",
        endpoint=ANTHROPIC_ENDPOINT,
        key_id=key.id,
        key_name=key.name,
        total=len(lines),
        created_at=now,
        expires_at=now + WINDOW,
    )
    _go_native(batch, "anthropic", lines)
    _save(batch, lines)
    return anthropic_render(batch, Counter(), "")


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
