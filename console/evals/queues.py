"""Annotation queues: logged requests people score one at a time against score configs.

A lead (ability ``evals.use``) defines a queue: its name, the score configs it asks for,
and optionally a journal filter (``FILTERS``) with a sample percent that fills it. Items
come from that filter (``fill``), or are sent from a log row, a session or an
experiment's rows (``add_logs``); a request is in a queue once. A reviewer (ability
``annotations.review``) works through the items they may see (``roles.visible_logs``):
``claim_next`` locks the oldest pending one to them for the queue's ``lock_minutes`` with a
compare-and-set UPDATE (two reviewers never get the same item, on SQLite or PostgreSQL),
``submit`` checks every score against its config (``gateway.telemetry.scores``: all
problems at once, nothing saved on any) and saves them as the reviewer's ``review``
scores on the request, ``skip`` sets the item aside. ``to_dataset`` turns the done
items into a dataset (``console.evals.datasets``), their scores in each row's metadata.

Errors: ``QueueError`` carries ``errors`` (field -> reason), shown beside the fields."""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from console.evals import datasets
from console.evals.models import AnnotationQueue, Cell, Dataset, QueueItem
from console.evals.parsing import DatasetError
from gateway.access import roles
from gateway.models import RequestLog, Score, ScoreConfig
from gateway.telemetry import logquery, scores

FILTERS = ("route", "key", "tag", "status", "since", "until")
MAX_FILL = 1000  # requests one fill looks at (newest first)
MAX_ADD = 1000  # requests sent at once from a session or an experiment
MAX_LOCK_MINUTES = 120


class QueueError(ValueError):
    """What cannot be saved, field by field (``errors``: field -> reason)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


# --- defining a queue ------------------------------------------------------------------


def queue_values(data: Any) -> dict[str, Any]:
    """A queue as sent (a form's POST or a dict): the values to store, or ``QueueError``
    naming every field's problem. ``score_configs``: config ids or names."""
    errors: dict[str, str] = {}
    name = str(data.get("name") or "").strip()
    if not name or len(name) > 200:
        errors["name"] = "a queue needs a name of at most 200 characters"
    getter = getattr(data, "getlist", None)
    wanted = getter("score_configs") if getter else list(data.get("score_configs") or [])
    ids = [int(v) for v in wanted if str(v).isdecimal()]
    names = [str(v) for v in wanted if not str(v).isdecimal()]
    configs = list(ScoreConfig.objects.filter(Q(pk__in=ids) | Q(name__in=names)))
    if not configs:
        errors["score_configs"] = "choose at least one score config the reviewers fill in"
    elif len(configs) < len(set(wanted)):
        errors["score_configs"] = "an unknown score config"
    filters = {f: str(data.get(f) or "").strip() for f in FILTERS if str(data.get(f) or "").strip()}
    try:
        logquery.filtered(filters)
    except logquery.InvalidFilter as exc:
        errors[exc.field] = str(exc).split(": ", 1)[-1]
    numbers = {}
    for field, default, low, high in (("sample", 100, 1, 100),
                                      ("lock_minutes", 10, 1, MAX_LOCK_MINUTES)):  # fmt: skip
        given = data.get(field)
        raw = "" if given is None else str(given).strip()
        if not raw:
            numbers[field] = default
        elif not raw.isdecimal() or not low <= int(raw) <= high:
            errors[field] = f"a whole number from {low} to {high}"
        else:
            numbers[field] = int(raw)
    if errors:
        raise QueueError(errors)
    return {
        "name": name,
        "description": str(data.get("description") or "")[:5000],
        "score_configs": configs,
        "filters": filters,
        **numbers,
    }


@transaction.atomic
def save_queue(values: dict[str, Any], queue: AnnotationQueue | None = None,
               created_by: str = "") -> AnnotationQueue:  # fmt: skip
    others = AnnotationQueue.objects.filter(name=values["name"])
    if queue is not None:
        others = others.exclude(pk=queue.pk)
    if others.exists():
        raise QueueError({"name": f"a queue named {values['name']!r} exists already"})
    fields = {k: v for k, v in values.items() if k != "score_configs"}
    if queue is None:
        queue = AnnotationQueue.objects.create(**fields, created_by=created_by)
    else:
        for field, value in fields.items():
            setattr(queue, field, value)
        queue.save()
    queue.score_configs.set(values["score_configs"])
    return queue


# --- filling it -------------------------------------------------------------------------


def sampled(request_id: str, percent: int) -> bool:
    """Whether a request is in a ``percent`` sample: the same answer on every fill (a
    hash of its id), so filling again adds only new requests."""
    return percent >= 100 or zlib.crc32(request_id.encode()) % 100 < percent


def fill(queue: AnnotationQueue, added_by: str = "") -> int:
    """Add the newest ``MAX_FILL`` requests the queue's filter selects (those in its
    sample), oldest first, so reviewers read them in order; the number added (requests already in it are not added again)."""
    if not queue.filters:
        raise QueueError({"filters": "this queue has no filter; send requests to it instead"})
    try:
        ids = logquery.matching_ids(queue.filters, MAX_FILL)
    except logquery.InvalidFilter as exc:
        raise QueueError({exc.field: str(exc)}) from None
    request_ids = dict(RequestLog.objects.filter(pk__in=ids).values_list("id", "request_id"))
    chosen = [pk for pk in reversed(ids) if sampled(request_ids.get(pk) or str(pk), queue.sample)]
    return add_logs(queue, chosen, QueueItem.Source.FILTER, added_by)


def add_logs(queue: AnnotationQueue, log_ids: list[int], source: str, added_by: str = "") -> int:
    """Put the requests ``log_ids`` in ``queue`` (once each); how many were new."""
    present = set(
        QueueItem.objects.filter(queue=queue, log_id__in=log_ids).values_list("log_id", flat=True)
    )
    new = [i for i in dict.fromkeys(log_ids) if i not in present]
    QueueItem.objects.bulk_create(
        [QueueItem(queue=queue, log_id=i, source=source, added_by=added_by) for i in new],
        ignore_conflicts=True,
    )
    return len(new)


def logs_to_add(actor: roles.Actor, *, request_id: str = "", session: str = "",
                experiment: int | None = None) -> tuple[list[int], str]:  # fmt: skip
    """The requests a "send to queue" names, among those ``actor`` sees: one request, a
    session's requests (oldest first) or the requests an experiment's cells made; and the
    item source they are added as."""
    visible = roles.visible_logs(actor, RequestLog.objects.all())
    if request_id:
        found = visible.filter(request_id=request_id).order_by("-created_at", "-id")
        return list(found.values_list("id", flat=True)[:1]), QueueItem.Source.LOG
    if session:
        found = visible.filter(session=session).order_by("created_at", "id")
        return list(found.values_list("id", flat=True)[:MAX_ADD]), QueueItem.Source.SESSION
    if experiment is not None:
        made = Cell.objects.filter(experiment_id=experiment).exclude(request_id="")
        wanted = list(made.order_by("row_index", "column").values_list("request_id", flat=True))
        by_request = dict(
            visible.filter(request_id__in=wanted[:MAX_ADD]).values_list("request_id", "id")
        )
        ids = [by_request[r] for r in wanted[:MAX_ADD] if r in by_request]
        return ids, QueueItem.Source.EXPERIMENT
    return [], QueueItem.Source.LOG


# --- working through it -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Progress:
    total: int
    done: int
    skipped: int

    @property
    def pending(self) -> int:
        return self.total - self.done - self.skipped

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 0


def progress(queue: AnnotationQueue) -> Progress:
    counts = dict(
        queue.items.values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    total = sum(counts.values())
    return Progress(
        total, counts.get(QueueItem.Status.DONE, 0), counts.get(QueueItem.Status.SKIPPED, 0)
    )


def _free_or(username: str, now: Any) -> Q:
    return Q(locked_until__isnull=True) | Q(locked_until__lte=now) | Q(locked_by=username)


def workable(queue: AnnotationQueue, actor: roles.Actor) -> QuerySet[QueueItem]:
    """The queue's items this reviewer may see the request of."""
    visible = roles.visible_logs(actor, RequestLog.objects.all()).values("id")
    return queue.items.filter(log_id__in=visible)


def take(item: QueueItem, username: str, minutes: int) -> bool:
    """Lock ``item`` to ``username`` if it is pending and free (or theirs already): one
    UPDATE that only one of two reviewers can win."""
    now = timezone.now()
    won = QueueItem.objects.filter(
        _free_or(username, now), pk=item.pk, status=QueueItem.Status.PENDING
    ).update(locked_by=username, locked_until=now + timedelta(minutes=minutes))
    if won:
        item.locked_by, item.locked_until = username, now + timedelta(minutes=minutes)
    return bool(won)


def claim_next(queue: AnnotationQueue, actor: roles.Actor) -> QueueItem | None:
    """The pending item this reviewer has open, else the oldest free one they may see,
    now locked to them; None when nothing is left for them."""
    now = timezone.now()
    pending = workable(queue, actor).filter(status=QueueItem.Status.PENDING)
    mine: QueueItem | None = pending.filter(locked_by=actor.username, locked_until__gt=now).first()
    if mine is not None:
        return mine
    free: list[QueueItem] = list(pending.filter(_free_or(actor.username, now))[:20])
    for item in free:
        if take(item, actor.username, queue.lock_minutes):
            return item
    return None


def holder(item: QueueItem, username: str) -> str:
    """Who else has ``item`` open now ("" when nobody or ``username``)."""
    mine = not item.locked_by or item.locked_by == username
    if not mine and item.locked_until and item.locked_until > timezone.now():
        return str(item.locked_by)
    return ""


def field_name(config: ScoreConfig) -> str:
    return f"score-{config.name}"


def submit(item: QueueItem, username: str, data: Mapping[str, Any]) -> list[Score]:
    """Save the reviewer's scores (one per config of the queue given a value in ``data``
    as ``score-<name>``, the ``comment`` on each) and mark the item done; every field's
    problem at once (``QueueError``), and nothing saved, when one is refused."""
    configs = list(item.queue.score_configs.all())
    comment = str(data.get("comment") or "")
    given: list[scores.Given] = []
    errors: dict[str, str] = {}
    for config in configs:
        raw = str(data.get(field_name(config)) or "").strip()
        if not raw:
            continue
        try:
            given.append(scores.clean(config.name, raw, None, comment))
        except scores.ScoreError as exc:
            errors[field_name(config)] = str(exc)
    if not given and not errors:
        errors["scores"] = "score at least one of: " + ", ".join(c.name for c in configs)
    if errors:
        raise QueueError(errors)
    with transaction.atomic():
        locked = QueueItem.objects.select_for_update().get(pk=item.pk)
        if holder(locked, username):
            raise QueueError({"item": f"{locked.locked_by} has this item open"})
        saved = [
            scores.save(locked.log, g, source=Score.Source.REVIEW, author=username) for g in given
        ]
        QueueItem.objects.filter(pk=item.pk).update(
            status=QueueItem.Status.DONE, done_by=username, done_at=timezone.now(),
            locked_by="", locked_until=None,
        )  # fmt: skip
    return saved


def skip(item: QueueItem, username: str) -> bool:
    """Set a pending item aside (it stays in the queue, not done); False if another
    reviewer has it open."""
    now = timezone.now()
    pending = QueueItem.objects.filter(
        _free_or(username, now), pk=item.pk, status=QueueItem.Status.PENDING
    )
    skipped = QueueItem.Status.SKIPPED
    return bool(
        pending.update(
            status=skipped, done_by=username, done_at=now, locked_by="", locked_until=None
        )
    )


def reopen_skipped(queue: AnnotationQueue) -> int:
    reopened: int = queue.items.filter(status=QueueItem.Status.SKIPPED).update(
        status=QueueItem.Status.PENDING, done_by="", done_at=None
    )
    return reopened


def review_scores(queue: AnnotationQueue, log_ids: list[int]) -> dict[int, list[Score]]:
    """The reviewers' scores of the queue's configs on ``log_ids``, by request."""
    names = list(queue.score_configs.values_list("name", flat=True))
    found: dict[int, list[Score]] = {}
    for score in Score.objects.filter(
        log_id__in=log_ids, name__in=names, source=Score.Source.REVIEW
    ).order_by("name"):
        found.setdefault(score.log_id, []).append(score)
    return found


# --- into a dataset ---------------------------------------------------------------------


def to_dataset(queue: AnnotationQueue, name: str) -> Dataset:
    """A dataset of the queue's done items: each request's conversation, its answer as
    the reference, and the reviewers' scores (and who gave them) in the metadata."""
    ids = list(
        queue.items.filter(status=QueueItem.Status.DONE)
        .order_by("id")
        .values_list("log_id", flat=True)
    )
    if not ids:
        raise QueueError({"dataset": "no item of this queue is done yet"})
    metadata = {
        log_id: {
            "queue": queue.name,
            "scores": {s.name: s.label or s.value for s in given},
            "reviewers": sorted({s.author for s in given}),
        }
        for log_id, given in review_scores(queue, ids).items()
    }
    rows = datasets.rows_of_logs(ids, with_answers=True, metadata=metadata)
    if not rows:
        raise QueueError({"dataset": "none of the done items has a kept chat body"})
    try:
        dataset: Dataset = datasets.create(
            name or f"{queue.name} (reviewed)",
            rows,
            description=f"From annotation queue {queue.name}",
            source="queue",
        )
    except DatasetError as exc:
        raise QueueError({"dataset_name": str(exc)}) from None
    AnnotationQueue.objects.filter(pk=queue.pk).update(dataset=dataset)
    return dataset
