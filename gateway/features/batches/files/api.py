"""What ``/v1/files`` does, in OpenAI's shapes: upload, list, retrieve, content, delete.

Blocking (ORM and store): the edge runs these in a thread. A key sees only its own
files (an unknown id and another key's file get the same 404); the master key sees
all. The bytes are written to the store first and the row created after, so a failed
upload leaves nothing; a delete removes the row first, then the bytes."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import IO, Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gateway.base.entries import KeyEntry
from gateway.base.errors import InvalidRequest, ModelNotFound
from gateway.features.batches.files import quota, store
from gateway.models.files import StoredFile

PURPOSES = frozenset({"assistants", "batch", "fine-tune", "vision", "user_data", "evals"})
BATCH_FILE_DAYS = 30  # a batch file's default lifetime, as OpenAI's
MIN_EXPIRY, MAX_EXPIRY = 3600, 30 * 24 * 3600
MAX_LIST = 10000


def new_id() -> str:
    return "file-" + secrets.token_hex(12)


def epoch(moment: datetime | None) -> int | None:
    return int(moment.timestamp()) if moment is not None else None


def render(row: StoredFile) -> dict[str, Any]:
    return {
        "id": row.id,
        "object": "file",
        "bytes": row.bytes,
        "created_at": epoch(row.created_at),
        "expires_at": epoch(row.expires_at),
        "filename": row.filename,
        "purpose": row.purpose,
        "status": row.status,
        "status_details": None,
    }


def visible(key: KeyEntry) -> Any:
    """The files ``key`` may see (not expired)."""
    rows = StoredFile.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=timezone.now()))
    return rows if key.is_master else rows.filter(key_id=key.id)


def get(key: KeyEntry, file_id: str) -> StoredFile:
    row: StoredFile | None = visible(key).filter(id=file_id).first()
    if row is None:
        raise ModelNotFound(f"No such File object: {file_id}", param="id", code="file_not_found")
    return row


def expiry(purpose: str, anchor: str | None, seconds: str | None) -> datetime | None:
    """``expires_after[anchor]``/``[seconds]`` of an upload, or the purpose's default."""
    now: datetime = timezone.now()
    if anchor is None and seconds is None:
        return now + timedelta(days=BATCH_FILE_DAYS) if purpose == "batch" else None
    if anchor != "created_at":
        raise InvalidRequest(
            "expires_after[anchor] must be 'created_at'", param="expires_after[anchor]"
        )
    if seconds is None or not seconds.isdigit() or not MIN_EXPIRY <= int(seconds) <= MAX_EXPIRY:
        raise InvalidRequest(
            f"expires_after[seconds] must be an integer from {MIN_EXPIRY} to {MAX_EXPIRY}",
            param="expires_after[seconds]",
        )
    return now + timedelta(seconds=int(seconds))


def create(
    key: KeyEntry,
    purpose: str,
    filename: str,
    source: IO[bytes],
    size: int,
    expires_at: datetime | None,
    file_id: str | None = None,
) -> dict[str, Any]:
    """Store ``source`` and create its row (the row only once the bytes are written): a
    file the gateway writes for ``key`` (a batch's output), never refused by its quota."""
    file_id = file_id or new_id()
    store.current().put(file_id, source)
    return record(key, file_id, purpose, filename, size, expires_at, quota_checked=False)


def record(
    key: KeyEntry,
    file_id: str,
    purpose: str,
    filename: str,
    size: int,
    expires_at: datetime | None,
    quota_checked: bool = True,
) -> dict[str, Any]:
    """The row of a file whose bytes are already in the store (on failure the bytes
    are removed: a file is a row and its content, or nothing). An upload is refused
    past the key's storage quota (``quota``; not a file the gateway writes itself)."""
    try:
        with transaction.atomic():
            if quota_checked:
                quota.check_stored(key, size)
            row = StoredFile.objects.create(
                id=file_id,
                purpose=purpose,
                filename=filename[:255],
                bytes=size,
                key_id=key.id,
                expires_at=expires_at,
            )
    except BaseException:
        store.current().delete(file_id)
        raise
    return render(row)


def check_upload(purpose: str | None, filename: str) -> str:
    """The purpose of an upload, or the 400 a bad one gets."""
    if not purpose:
        raise InvalidRequest("purpose is required", param="purpose")
    if purpose not in PURPOSES:
        raise InvalidRequest(
            f"'{purpose}' is not one of {sorted(PURPOSES)} - 'purpose'", param="purpose"
        )
    if purpose == "batch" and not filename.lower().endswith(".jsonl"):
        raise InvalidRequest("Invalid file format for Batch API. Must be .jsonl", param="file")
    return purpose


def listing(key: KeyEntry, query: dict[str, str]) -> dict[str, Any]:
    """``GET /v1/files``: ``purpose``, ``limit`` (1-10000), ``order`` (asc|desc, desc by
    default), ``after`` (a file id: the page after it)."""
    rows = visible(key)
    if query.get("purpose"):
        rows = rows.filter(purpose=query["purpose"])
    limit = _limit(query.get("limit"), MAX_LIST, MAX_LIST)
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequest("order must be 'asc' or 'desc'", param="order")
    rows = page_after(rows, query.get("after"), order)
    page = list(rows[: limit + 1])
    return list_page([render(row) for row in page[:limit]], len(page) > limit)


def page_after(rows: Any, after: str | None, order: str) -> Any:
    """``rows`` in (created_at, id) order, from the one after ``after`` on."""
    if order == "asc":
        rows = rows.order_by("created_at", "id")
    else:
        rows = rows.order_by("-created_at", "-id")
    if after:
        mark = rows.model.objects.filter(id=after).values_list("created_at", flat=True).first()
        if mark is None:
            return rows.none()
        if order == "asc":
            rows = rows.filter(Q(created_at__gt=mark) | Q(created_at=mark, id__gt=after))
        else:
            rows = rows.filter(Q(created_at__lt=mark) | Q(created_at=mark, id__lt=after))
    return rows


def list_page(data: list[dict[str, Any]], has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": has_more,
    }


def _limit(raw: str | None, default: int, most: int) -> int:
    if raw in (None, ""):
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= most:
        raise InvalidRequest(f"limit must be an integer from 1 to {most}", param="limit")
    return int(raw)


def retrieve(key: KeyEntry, file_id: str) -> dict[str, Any]:
    return render(get(key, file_id))


def content(key: KeyEntry, file_id: str) -> bytes:
    get(key, file_id)
    return store.current().read(file_id)


def delete(key: KeyEntry, file_id: str) -> dict[str, Any]:
    row = get(key, file_id)
    StoredFile.objects.filter(id=row.id).delete()
    store.current().delete(row.id)
    return {"id": row.id, "object": "file", "deleted": True}


def prune_expired(now: datetime | None = None, limit: int = 500) -> int:
    """Delete up to ``limit`` files whose ``expires_at`` has passed (rows, then bytes);
    the number deleted. Expired files are already invisible to every key."""
    rows = list(
        StoredFile.objects.filter(expires_at__lte=now or timezone.now()).values_list(
            "id", flat=True
        )[:limit]
    )
    if rows:
        StoredFile.objects.filter(id__in=rows).delete()
        for file_id in rows:
            store.current().delete(file_id)
    return len(rows)


def prune_abandoned_uploads() -> int:
    """Remove what uploads cut off with their worker left in the store (see
    ``store.ABANDONED_SECONDS``); the number removed."""
    return store.current().prune_abandoned()
