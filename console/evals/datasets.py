"""Saving datasets: a new one from parsed rows, a new version from an edit, and one
from the request log (the log query shared with /api/logs, each request's inbound body
read back by the gateway's own codec as the playground's replay does). Every write is
one transaction: a dataset is never seen half-imported."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from console.evals.models import Dataset, DatasetRow
from console.evals.parsing import DatasetError, ParsedRow, row_from_object
from console.playground.replay import prefill_from_log
from console.playground.stream import fold_transcript
from gateway.models import RequestBody, RequestLog
from gateway.telemetry import logquery

FROM_LOG_LIMIT = 5_000


def _write_rows(dataset: Dataset, version: int, rows: Iterable[ParsedRow]) -> None:
    DatasetRow.objects.bulk_create(
        [
            DatasetRow(
                dataset=dataset,
                version=version,
                index=index,
                messages=row.messages,
                system=row.system,
                reference=row.reference,
                metadata=row.metadata,
            )
            for index, row in enumerate(rows)
        ],
        batch_size=1000,
    )


@transaction.atomic
def create(
    name: str, rows: list[ParsedRow], *, description: str = "", source: str = "upload"
) -> Dataset:
    name = name.strip()
    if not name:
        raise DatasetError("the dataset needs a name")
    if Dataset.objects.filter(name=name).exists():
        raise DatasetError(f"a dataset named {name!r} exists already")
    dataset: Dataset = Dataset.objects.create(name=name, description=description, source=source)
    _write_rows(dataset, 1, rows)
    return dataset


@transaction.atomic
def new_version(dataset: Dataset, rows: list[ParsedRow]) -> Dataset:
    """Rows replaced as a new version; the old one stays for experiments that ran it."""
    dataset = Dataset.objects.select_for_update().get(pk=dataset.pk)
    dataset.version += 1
    dataset.updated_at = timezone.now()
    dataset.save(update_fields=["version", "updated_at"])
    _write_rows(dataset, dataset.version, rows)
    return dataset


def current_rows(dataset: Dataset) -> list[ParsedRow]:
    return [ParsedRow(r.messages, r.system, r.reference, r.metadata) for r in dataset.rows()]


def edit_row(dataset: Dataset, index: int, data: Mapping[str, Any]) -> Dataset:
    """Replace row ``index`` (or delete it when ``data`` is empty) as a new version."""
    rows = current_rows(dataset)
    if not 0 <= index < len(rows):
        raise DatasetError(f"row {index} does not exist")
    if data:
        rows[index] = row_from_object(dict(data), f"row {index}")
    else:
        del rows[index]
        if not rows:
            raise DatasetError("a dataset keeps at least one row")
    edited: Dataset = new_version(dataset, rows)
    return edited


def rows_from_log(
    filters: Mapping[str, Any], *, with_answers: bool, limit: int = FROM_LOG_LIMIT
) -> list[ParsedRow]:
    """The inputs of the logged requests ``filters`` selects (``gateway.telemetry.logquery``'s
    filters: since, until, route, key, status, dialect, q), newest first, chat-like
    endpoints only; their answers as references when asked. Requests whose body was not
    kept are skipped."""
    ids = logquery.matching_ids(  # (a text search reads body parts as the list does)
        filters,
        max(1, min(limit, FROM_LOG_LIMIT)),
        lambda rows: rows.filter(endpoint__in=("chat", "messages", "responses")),
    )
    rows = rows_of_logs(ids, with_answers=with_answers)
    if not rows:
        raise DatasetError("no logged request matching the filter has a kept chat body")
    return rows


def rows_of_logs(
    ids: list[int],
    *,
    with_answers: bool,
    metadata: Mapping[int, Mapping[str, Any]] | None = None,
) -> list[ParsedRow]:
    """The rows of the logged requests ``ids`` (in that order): each one's conversation
    as the client sent it, its answer as the reference when asked, ``metadata[log id]``
    added to the row's (request id and route). Requests whose kept body is not a chat
    ending with a user message are skipped."""
    found = RequestLog.objects.filter(pk__in=ids).values_list(
        "id", "request_id", "route", "dialect"
    )
    by_id = {row[0]: row for row in found}
    logs = [by_id[i] for i in ids if i in by_id]
    bodies = {
        b.log_id: b
        for b in RequestBody.objects.filter(log_id__in=ids).only(
            "log_id", "inbound_request", "outbound_response", "parts"
        )
    }
    rows = []
    for log_id, request_id, route, dialect in logs:
        body = bodies.get(log_id)
        if body is None or not body.inbound_request:
            continue
        prefill = prefill_from_log(route, dialect, request_id, body.inbound_request)
        if prefill.get("replay_error"):
            continue
        messages = [
            {"role": m["role"], "content": m.get("content") or ""}
            for m in prefill["messages"]
            if m["role"] in ("user", "assistant") and m.get("content")
        ]
        if not messages or messages[-1]["role"] != "user":
            continue
        reference = ""
        if with_answers and body.outbound_response:
            reference = _answer_text(dialect, body.outbound_response)
        rows.append(
            ParsedRow(
                messages,
                prefill["system"],
                reference,
                {"request_id": request_id, "route": route, **(metadata or {}).get(log_id, {})},
            )
        )
    return rows


def _answer_text(dialect: str, response: str) -> str:
    codec = "anthropic" if dialect == "anthropic" else "openai"
    try:
        import orjson

        body = orjson.loads(response)
        if isinstance(body, dict) and "choices" in body:  # a whole (not streamed) answer
            message = (body["choices"] or [{}])[0].get("message") or {}
            return str(message.get("content") or "")
        if isinstance(body, dict) and body.get("type") == "message":
            return "".join(
                b.get("text", "") for b in body.get("content") or [] if isinstance(b, dict)
            )
    except Exception:  # a transcript of a stream, not one JSON document
        pass
    try:
        return fold_transcript(codec, response.encode()).text
    except Exception:
        return ""
