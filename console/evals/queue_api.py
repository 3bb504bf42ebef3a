"""``/api/annotation-queues``: review queues through the management API (mounted by
``console.evals.api``). Leads (``evals.use``) create and delete queues, fill them from
their journal filter and send requests to them by id; reviewers and leads read them with
their progress. Scoring stays in the console, where an item is locked to its reviewer.
A bad field is a 422 naming every field's problem."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Router, Schema, Status
from pydantic import Field

from console.evals import events, queues
from console.evals.models import AnnotationQueue, QueueItem
from gateway.access import roles
from gateway.web.api.writes import ValidationErrors, check_fields
from gateway.web.http import first_or_404

router = Router(tags=["evaluations"])


class QueueOut(Schema):
    id: int
    name: str
    description: str
    score_configs: list[str]
    filters: dict[str, str]
    sample: int
    lock_minutes: int
    total: int
    done: int
    skipped: int
    created_by: str
    created_at: datetime


class QueueIn(Schema):
    name: str
    description: str = ""
    score_configs: list[str] = Field(default_factory=list)  # config names (or ids)
    route: str | None = None  # the journal filter that fills it, all optional
    key: str | None = None
    tag: str | None = None
    status: str | None = None
    since: str | None = None
    until: str | None = None
    sample: int | None = None  # percent of matching requests, 1-100
    lock_minutes: int | None = None  # how long an opened item is its reviewer's, 1-120


class QueueItemsIn(Schema):
    request_ids: list[str] = Field(min_length=1, max_length=queues.MAX_ADD)


def _out(queue: AnnotationQueue) -> dict[str, Any]:
    progress = queues.progress(queue)
    return {
        "id": queue.pk,
        "name": queue.name,
        "description": queue.description,
        "score_configs": [c.name for c in queue.score_configs.all()],
        "filters": queue.filters,
        "sample": queue.sample,
        "lock_minutes": queue.lock_minutes,
        "total": progress.total,
        "done": progress.done,
        "skipped": progress.skipped,
        "created_by": queue.created_by,
        "created_at": queue.created_at,
    }


def _queue(queue_id: int) -> AnnotationQueue:
    rows = AnnotationQueue.objects.filter(pk=queue_id)
    found: AnnotationQueue = first_or_404(rows, f"no annotation queue {queue_id}")
    return found


def _errors(exc: queues.QueueError) -> dict[str, Any]:
    return {"errors": {field: [reason] for field, reason in exc.errors.items()}}


def _username(request: HttpRequest) -> str:
    return str(getattr(request.actor, "username", "") or "api")


@router.get("/", response=list[QueueOut])
def list_queues(request: HttpRequest) -> list[dict[str, Any]]:
    return [_out(q) for q in AnnotationQueue.objects.prefetch_related("score_configs")[:500]]


@router.post("/", response={201: QueueOut, 422: ValidationErrors})
def create_queue(request: HttpRequest, payload: QueueIn) -> Status[Any]:
    """A queue, filled at once from its filter when it has one."""
    sent = payload.dict(exclude_unset=True)
    check_fields(request, "annotation_queues", sent)
    try:
        queue = queues.save_queue(queues.queue_values(sent), created_by=_username(request))
    except queues.QueueError as exc:
        return Status(422, _errors(exc))
    added = queues.fill(queue, _username(request)) if queue.filters else 0
    events.queue_event("create", queue, **{**sent, "items": added})
    return Status(201, _out(queue))


@router.get("/{rowid:queue_id}", response=QueueOut)
def get_queue(request: HttpRequest, queue_id: int) -> dict[str, Any]:
    return _out(_queue(queue_id))


@router.post("/{rowid:queue_id}/items", response={200: dict, 422: ValidationErrors})
def add_items(request: HttpRequest, queue_id: int, payload: QueueItemsIn) -> Status[Any]:
    """Send requests (by request id) to the queue: ``added`` new, ``present`` already in it,
    ``unknown`` the ids naming no request the caller may see."""
    queue = _queue(queue_id)
    check_fields(request, "annotation_queue_items", payload.dict())
    actor: roles.Actor = request.actor
    found: dict[str, int] = {}
    for request_id in dict.fromkeys(payload.request_ids):
        ids, _ = queues.logs_to_add(actor, request_id=request_id)
        if ids:
            found[request_id] = ids[0]
    unknown = [r for r in payload.request_ids if r not in found]
    added = queues.add_logs(queue, list(found.values()), QueueItem.Source.LOG, _username(request))
    events.queue_event("update", queue, items_added=added)
    return Status(200, {"added": added, "present": len(found) - added, "unknown": unknown})


@router.post("/{rowid:queue_id}/fill", response={200: dict, 422: ValidationErrors})
def fill_queue(request: HttpRequest, queue_id: int) -> Status[Any]:
    """Add the requests its filter selects now (those in its sample, once each)."""
    queue = _queue(queue_id)
    try:
        added = queues.fill(queue, _username(request))
    except queues.QueueError as exc:
        return Status(422, _errors(exc))
    events.queue_event("update", queue, items_added=added)
    return Status(200, {"added": added})


@router.delete("/{rowid:queue_id}", response={204: None})
def delete_queue(request: HttpRequest, queue_id: int) -> Status[None]:
    """The queue and its items; the scores given in it stay on the requests."""
    queue = _queue(queue_id)
    events.queue_event("delete", queue)
    queue.delete()
    return Status(204, None)
