"""Batches (OpenAI ``/v1/batches`` and Anthropic Message Batches) for admins: every
key's batches with their progress, status and cost (and whether the upstream's own
batch API runs it), a cancel button while one runs,
and its results to download (OpenAI: the output and error files; Anthropic: the
results JSONL). The table refreshes itself every few seconds while a batch runs."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from gateway.base.entries import MASTER
from gateway.features.batches import operations as batches
from gateway.features.batches.files import api as files
from gateway.models.batches import Batch
from gateway.telemetry import audit
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest

PAGE = 50


@staff_required
def batch_list(request: HtmxHttpRequest) -> HttpResponse:
    rows = list(Batch.objects.order_by("-created_at", "-id")[:PAGE])
    counts = batches.line_counts([b.id for b in rows])
    items = []
    for batch in rows:
        c = counts[batch.id]
        running = batch.status in Batch.UNFINISHED
        done = sum(n for outcome, n in c.items() if outcome)
        succeeded, failed = c["succeeded"], c["errored"] + c["expired"] + c["canceled"]
        if batch.native and running:  # the upstream's counts, copied at each poll
            done, succeeded, failed = batch.completed + batch.failed, batch.completed, batch.failed
        items.append(
            {
                "batch": batch,
                "done": done,
                "percent": round(100 * done / batch.total) if batch.total else 100,
                "succeeded": succeeded,
                "failed": failed,
                "running": running,
                "problem": _problem(batch),
            }
        )
    return render(
        request,
        "batches/list.html",
        {"items": items, "running": any(i["running"] for i in items)},
    )


def _problem(batch: Batch) -> str:
    """What a failed batch's ``errors`` say first (a bad input file's first line)."""
    data = (batch.errors or {}).get("data") or []
    if not data:
        return ""
    first = data[0]
    where = f"line {first['line']}: " if first.get("line") else ""
    more = f" (+{len(data) - 1} more)" if len(data) > 1 else ""
    return f"{where}{first.get('message') or first.get('code') or ''}{more}"


@staff_required
@require_POST
def batch_cancel(request: HtmxHttpRequest, batch_id: str) -> HttpResponse:
    batch = Batch.objects.filter(id=batch_id).first()
    if batch is None:
        raise Http404
    batches.cancel(MASTER, batch.id, batch.api)
    audit.record("cancel", object_type="batch", object_id=batch.id, detail=f"{batch.api} batch")
    from gateway.features.batches import runner

    runner.wake()
    return redirect("console:batches")


@staff_required
def batch_download(request: HtmxHttpRequest, batch_id: str, which: str) -> HttpResponse:
    batch = Batch.objects.filter(id=batch_id).first()
    if batch is None or batch.status in Batch.UNFINISHED:
        raise Http404
    if batch.api == "anthropic" and which == "results":
        data = batches.anthropic_results(MASTER, batch.id)
    elif batch.api == "openai" and which in ("output", "errors"):
        file_id = batch.output_file_id if which == "output" else batch.error_file_id
        if not file_id:
            raise Http404
        data = files.content(MASTER, file_id)
    else:
        raise Http404
    audit.exported("batch", f"{batch.api} batch {which}", object_id=batch.id)
    reply = HttpResponse(data, content_type="application/jsonl")
    reply["Content-Disposition"] = f'attachment; filename="{batch.id}_{which}.jsonl"'
    return reply
