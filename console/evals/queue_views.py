"""The review loop's pages under /evals: score configs (list, create, edit, delete),
annotation queues (list and define, a queue's progress and items with who scored what,
fill from its filter, send requests to it from a log row, a session or an experiment,
make a dataset of its done items) and the reviewer's page: one item at a time, locked to
them, a field per score config, keyboard shortcuts (``console/review.js``).

Leads define (``evals.use``), reviewers work (``annotations.review``): each page's
abilities are declared once in ``console.evals.pages``. Refused input is shown beside its
field with a 422; nothing is half-saved."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

from console.evals import events, queues
from console.evals.models import AnnotationQueue, QueueItem
from console.playground.replay import prefill_from_log
from gateway.access import registry, roles
from gateway.models import RequestBody, RequestLog, ScoreConfig
from gateway.telemetry import scores
from gateway.web.answers import answer_text
from gateway.web.decorators import actor_of, staff_required

LEAD = "evals.use"
ITEMS_SHOWN = 200


def _config_context(form: Any, errors: dict[str, str]) -> dict[str, Any]:
    return {"form": form, "errors": errors, "types": ScoreConfig.DataType.values}


@staff_required
def score_configs(request: HttpRequest) -> HttpResponse:
    """GET: the score configs; POST: a new one (every field's problem shown at once)."""
    errors: dict[str, str] = {}
    form: Any = {"data_type": "numeric"}
    if request.method == "POST":
        values, errors = scores.config_errors(request.POST)
        form = request.POST
        if not errors and ScoreConfig.objects.filter(name=values["name"]).exists():
            errors["name"] = f"a score config named {values['name']!r} exists already"
        if not errors:
            config = ScoreConfig.objects.create(**values, created_by=request.user.get_username())
            given = {k: v for k, v in values.items() if v not in ("", None, [])}
            events.event("create", "score_config", config, given)
            messages.success(request, f"Score config {config.name} saved.")
            return redirect("console:evals-scoring")
    context = {
        **_config_context(form, errors),
        "configs": ScoreConfig.objects.all(),
        "used": set(ScoreConfig.objects.filter(queues__isnull=False).values_list("pk", flat=True)),
    }
    return render(request, "evals/score_configs.html", context, status=422 if errors else 200)


@staff_required
def score_config_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: one config's form; POST: save it, or delete it (``action=delete``; its
    scores stay, no longer governed)."""
    config = get_object_or_404(ScoreConfig, pk=pk)
    errors: dict[str, str] = {}
    form: Any = scores.config_dict(config)
    form["categories"] = "\n".join(config.categories)
    if request.method == "POST":
        if request.POST.get("action") == "delete":
            events.event("delete", "score_config", config, {})
            config.delete()
            messages.success(request, f"Score config {config.name} deleted.")
            return redirect("console:evals-scoring")
        values, errors = scores.config_errors(request.POST)
        form = request.POST
        taken = ScoreConfig.objects.filter(name=values["name"]).exclude(pk=pk).exists()
        if not errors and taken:
            errors["name"] = f"a score config named {values['name']!r} exists already"
        if not errors:
            ScoreConfig.objects.filter(pk=pk).update(**values, updated_at=timezone.now())
            events.event("update", "score_config", config, values)
            messages.success(request, f"Score config {values['name']} saved.")
            return redirect("console:evals-scoring")
    context = {**_config_context(form, errors), "config": config}
    return render(request, "evals/score_config.html", context, status=422 if errors else 200)


# --- queues ---------------------------------------------------------------------------


def _queue_form_context(form: Any, errors: dict[str, str]) -> dict[str, Any]:
    chosen = (
        form.getlist("score_configs") if hasattr(form, "getlist") else form.get("score_configs", [])
    )
    return {
        "form": form,
        "errors": errors,
        "configs": ScoreConfig.objects.all(),
        "chosen": {str(c) for c in chosen},
        "routes": sorted(registry.current().routes),
        "filters": queues.FILTERS,
    }


@staff_required
def queue_list(request: HttpRequest) -> HttpResponse:
    """GET: the queues with their progress (reviewers and leads); POST (leads): a new
    queue, filled at once from its filter when it has one."""
    actor = actor_of(request)
    errors: dict[str, str] = {}
    form: Any = {"sample": 100, "lock_minutes": 10}
    if request.method == "POST":
        form = request.POST
        try:
            values = queues.queue_values(request.POST)
            queue = queues.save_queue(values, created_by=request.user.get_username())
        except queues.QueueError as exc:
            errors = exc.errors
        else:
            added = queues.fill(queue, request.user.get_username()) if queue.filters else 0
            events.queue_event("create", queue, filters=queue.filters, items=added)
            messages.success(request, f"Queue {queue.name} created with {added} items.")
            return redirect("console:evals-queue", pk=queue.pk)
    rows = [
        (q, queues.progress(q))
        for q in AnnotationQueue.objects.prefetch_related("score_configs")[:200]
    ]
    context = {
        **_queue_form_context(form, errors),
        "queues": rows,
        "may_lead": actor.can(LEAD),
    }
    return render(request, "evals/queues.html", context, status=422 if errors else 200)


@staff_required
def queue_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: a queue's progress, its items (status, who scored what) and, for leads, its
    actions; POST (leads): ``fill`` from its filter, ``reopen`` the skipped, ``delete``."""
    queue = get_object_or_404(AnnotationQueue, pk=pk)
    actor = actor_of(request)
    if request.method == "POST":
        action = request.POST.get("action", "")
        username = request.user.get_username()
        if action == "fill":
            try:
                added = queues.fill(queue, username)
            except queues.QueueError as exc:
                messages.error(request, f"Not filled: {'; '.join(exc.errors.values())}")
            else:
                events.queue_event("update", queue, items_added=added)
                messages.success(request, f"Added {added} requests from the filter.")
        elif action == "reopen":
            reopened = queues.reopen_skipped(queue)
            events.queue_event("update", queue, reopened=reopened)
            messages.success(request, f"{reopened} skipped items are pending again.")
        elif action == "delete":
            events.queue_event("delete", queue)
            queue.delete()
            messages.success(request, f"Queue {queue.name} deleted (its scores stay).")
            return redirect("console:evals-queues")
        return redirect("console:evals-queue", pk=pk)
    items = list(queues.workable(queue, actor).select_related("log").order_by("id")[:ITEMS_SHOWN])
    given = queues.review_scores(queue, [i.log_id for i in items])
    now = timezone.now()
    rows = [
        {"item": i, "scores": given.get(i.log_id, []),
         "open_by": i.locked_by if i.locked_until and i.locked_until > now else ""}
        for i in items
    ]  # fmt: skip
    context = {
        "queue": queue,
        "configs": list(queue.score_configs.all()),
        "progress": queues.progress(queue),
        "rows": rows,
        "shown": len(items),
        "may_lead": actor.can(LEAD),
        "default_dataset": f"{queue.name} (reviewed)",
    }
    return render(request, "evals/queue.html", context)


@staff_required
def queue_dataset(request: HttpRequest, pk: int) -> HttpResponse:
    """POST (leads): the queue's done items as a new dataset, then its page."""
    queue = get_object_or_404(AnnotationQueue, pk=pk)
    if request.method != "POST":
        return redirect("console:evals-queue", pk=pk)
    try:
        dataset = queues.to_dataset(queue, request.POST.get("name", "").strip())
    except queues.QueueError as exc:
        messages.error(request, f"No dataset: {'; '.join(exc.errors.values())}")
        return redirect("console:evals-queue", pk=pk)
    rows = dataset.rows().count()
    events.created(dataset, rows, f"from annotation queue {queue.name}")
    messages.success(request, f"Created {dataset.name} with {rows} reviewed requests.")
    return redirect("console:evals-dataset", pk=dataset.pk)


def _back(request: HttpRequest, fallback: str) -> str:
    url = request.POST.get("next") or ""
    if url and url_has_allowed_host_and_scheme(url, {request.get_host()}):
        return url
    return fallback


@staff_required
def queue_add(request: HttpRequest) -> HttpResponse:
    """POST (leads): send requests to a queue: one (``request_id``, from its log page), a
    session's (``session``) or an experiment's (``experiment``); back where it came from."""
    if request.method != "POST":
        return redirect("console:evals-queues")
    back = _back(request, reverse("console:evals-queues"))
    queue = AnnotationQueue.objects.filter(pk=_int(request.POST.get("queue"))).first()
    if queue is None:
        messages.error(request, "Not added: choose a queue.")
        return redirect(back)
    ids, source = queues.logs_to_add(
        actor_of(request),
        request_id=request.POST.get("request_id", "").strip(),
        session=request.POST.get("session", "").strip(),
        experiment=_int(request.POST.get("experiment")),
    )
    if not ids:
        messages.error(request, "Not added: no request you may see was named.")
        return redirect(back)
    added = queues.add_logs(queue, ids, source, request.user.get_username())
    events.queue_event("update", queue, items_added=added, **{"from": source})
    already = len(ids) - added
    note = f" ({already} already in it)" if already else ""
    messages.success(request, f"Added {added} to queue {queue.name}{note}.")
    return redirect(back)


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdecimal() else None


def queues_to_send(actor: roles.Actor) -> list[AnnotationQueue]:
    """The queues a lead may send requests to (none for anyone else): for the "Add to
    queue" forms of the log, session and experiment pages."""
    return list(AnnotationQueue.objects.only("pk", "name")[:100]) if actor.can(LEAD) else []


# --- reviewing ------------------------------------------------------------------------


@staff_required
def queue_review(request: HttpRequest, pk: int) -> HttpResponse:
    """The next item for this reviewer (locked to them), or the end of the queue."""
    queue = get_object_or_404(AnnotationQueue, pk=pk)
    item = queues.claim_next(queue, actor_of(request))
    if item is not None:
        return redirect("console:evals-queue-item", pk=pk, item=item.pk)
    context = {"queue": queue, "progress": queues.progress(queue)}
    return render(request, "evals/queue_done.html", context)


def _exchange(log: RequestLog) -> dict[str, Any]:
    """What the reviewer reads: the conversation as sent (system and messages) and the
    answer's text; raw text when the body cannot be read as a chat."""
    body = RequestBody.objects.filter(log=log).first()
    inbound = body.inbound_request if body else ""
    outbound = body.outbound_response if body else ""
    messages_: list[dict[str, Any]] = []
    system = ""
    if inbound:
        prefill = prefill_from_log(log.route, log.dialect, log.request_id, inbound)
        if not prefill.get("replay_error"):
            system = prefill["system"]
            messages_ = [m for m in prefill["messages"] if m.get("content")]
    return {
        "system": system,
        "messages": messages_,
        "raw_request": "" if messages_ else (inbound or "")[:20000],
        "answer": answer_text(log.dialect, outbound) if outbound else None,
        "kept": bool(body),
    }


@staff_required
def queue_item(request: HttpRequest, pk: int, item: int) -> HttpResponse:
    """GET: one item, locked to this reviewer (shown read-only when another has it
    open); POST: ``submit`` its scores (then the next item) or ``skip`` it."""
    queue = get_object_or_404(AnnotationQueue, pk=pk)
    actor = actor_of(request)
    found = get_object_or_404(queues.workable(queue, actor).select_related("log"), pk=item)
    username = request.user.get_username()
    errors: dict[str, str] = {}
    status = 200
    if found.status == QueueItem.Status.PENDING and not queues.holder(found, username):
        queues.take(found, username, queue.lock_minutes)
    if request.method == "POST":
        if request.POST.get("action") == "skip":
            if queues.skip(found, username):
                return redirect("console:evals-queue-review", pk=pk)
            errors["item"] = f"{found.locked_by} has this item open"
        elif found.status == QueueItem.Status.DONE and found.done_by != username:
            errors["item"] = f"{found.done_by} scored this item already"
        else:
            try:
                queues.submit(found, username, request.POST)
            except queues.QueueError as exc:
                errors = exc.errors
            else:
                messages.success(request, f"Saved item {found.pk}.")
                return redirect("console:evals-queue-review", pk=pk)
        status = 409 if "item" in errors else 422
    configs = list(queue.score_configs.all())
    mine = {s.name: s for s in queues.review_scores(queue, [found.log_id]).get(found.log_id, [])
            if s.author == username}  # fmt: skip
    form = request.POST if request.method == "POST" else {}
    fields = [
        {
            "config": c,
            "name": queues.field_name(c),
            "options": _options(c),
            "value": form.get(queues.field_name(c)) if form else _stored(mine.get(c.name)),
            "error": errors.get(queues.field_name(c), ""),
            "hotkeys": index == 0,
        }
        for index, c in enumerate(configs)
    ]
    context = {
        "queue": queue,
        "item": found,
        "log": found.log,
        "exchange": _exchange(found.log),
        "fields": fields,
        "errors": errors,
        "comment": form.get("comment", "")
        if form
        else next((s.comment for s in mine.values() if s.comment), ""),
        "held_by": queues.holder(found, username),
        "progress": queues.progress(queue),
        "position": queue.items.filter(id__lte=found.pk).count(),
    }
    return render(request, "evals/queue_item.html", context, status=status)


def _options(config: ScoreConfig) -> list[tuple[str, str]]:
    """The choices a field offers as buttons (value, label), numbered for the keys 1-9:
    the categories, true/false, or each whole number of a numeric range of at most 10;
    [] for a free number."""
    if config.data_type == ScoreConfig.DataType.CATEGORICAL:
        return [(str(c), str(c)) for c in config.categories]
    if config.data_type == ScoreConfig.DataType.BOOLEAN:
        return [("true", "true"), ("false", "false")]
    low, high = config.min_value, config.max_value
    whole = low is not None and high is not None and low.is_integer() and high.is_integer()
    if whole and low is not None and high is not None and 0 < high - low < 10:
        return [(f"{v:g}", f"{v:g}") for v in range(int(low), int(high) + 1)]
    return []


def _stored(score: Any) -> str:
    """A saved score as its field's value (a category, true/false, or the number)."""
    if score is None:
        return ""
    if score.label:
        return str(score.label)
    return f"{score.value:g}" if score.value is not None else ""
