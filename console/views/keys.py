"""Virtual keys: create (the raw key shown once), edit limits in place (the row swaps
to a form and back with htmx), revoke, usage and spend per key. Every change goes
through ``gateway.keys`` like the API and the CLI."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from gateway import keys as key_ops
from gateway.models import ApiKey

from .. import stats
from ..decorators import staff_required
from ..forms import KeyForm, show_errors
from .common import HtmxHttpRequest, go_to

TEMPLATE = "console/keys.html"
USAGE_DAYS = 30


def _with_usage(keys: list[ApiKey]) -> list[ApiKey]:
    usage = stats.key_usage([k.pk for k in keys], timezone.now() - timedelta(days=USAGE_DAYS))
    empty = {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0}
    for key in keys:
        row = {**empty, **{k: v or 0 for k, v in usage.get(key.pk, {}).items()}}
        row["tokens"] = row["input_tokens"] + row["output_tokens"]
        key.usage = row
    return keys


def _context(**extra) -> dict:
    keys = _with_usage(list(ApiKey.objects.prefetch_related("routes")))
    return {"keys": keys, "usage_days": USAGE_DAYS, **extra}


@staff_required
def key_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(form=KeyForm()))


@staff_required
@require_POST
def key_create(request: HtmxHttpRequest) -> HttpResponse:
    form = KeyForm(request.POST)
    created = None
    if form.is_valid():
        data = form.cleaned_data
        try:
            created = key_ops.create_key(
                name=data["name"],
                routes=[r.name for r in data["routes"]],
                rpm_limit=data["rpm_limit"],
                tpm_limit=data["tpm_limit"],
                budget_usd=data["budget_usd"],
                budget_period=data["budget_period"],
                expires_at=data["expires_at"],
                mcp_allowed=data["mcp_allowed"],
            )
        except ValidationError as exc:
            show_errors(form, exc)
    if created is not None:
        form = KeyForm()
    context = _context(form=form, created=created)
    template = TEMPLATE + "#keys-main" if request.htmx else TEMPLATE
    return render(request, template, context)


def _row(request: HtmxHttpRequest, pk: int, partial: str = "key-row", **extra) -> HttpResponse:
    key = _with_usage([ApiKey.objects.prefetch_related("routes").get(pk=pk)])[0]
    context = {"key": key, "usage_days": USAGE_DAYS, **extra}
    return render(request, f"{TEMPLATE}#{partial}", context)


def _changes(key: ApiKey, data: dict) -> dict:
    """update_key's arguments from the form. The expiry only when it changed, so that
    re-saving a key whose expiry has passed does not fail on "must be in the future"."""
    changes = {
        "name": data["name"],
        "routes": [r.name for r in data["routes"]],
        "rpm_limit": data["rpm_limit"],
        "tpm_limit": data["tpm_limit"],
        "budget_usd": data["budget_usd"],
        "budget_period": data["budget_period"],
        "mcp_allowed": data["mcp_allowed"],
    }
    stored = key.expires_at.replace(second=0, microsecond=0) if key.expires_at else None
    if data["expires_at"] != stored:
        changes["expires_at"] = data["expires_at"]
    return changes


def _edit_ids(pk: int) -> str:
    """Field ids of a key's edit row, distinct from the new-key form on the same page."""
    return f"id_key{pk}_%s"


@staff_required
def key_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.prefetch_related("routes"), pk=pk)
    if request.method == "POST":
        form = KeyForm(request.POST, auto_id=_edit_ids(pk))
        saved = False
        if form.is_valid():
            try:
                key_ops.update_key(key, **_changes(key, form.cleaned_data))
                saved = True
            except ValidationError as exc:
                show_errors(form, exc)
        if saved:
            if request.htmx:
                return _row(request, pk)
            return go_to(request, reverse("console:keys") + f"#key-{pk}")
    else:
        form = KeyForm.for_key(key, auto_id=_edit_ids(pk))
    if request.htmx:
        return _row(request, pk, "key-edit-row", form=form)
    return render(request, TEMPLATE, _context(form=KeyForm(), edit_key=pk, edit_form=form))


@staff_required
@require_POST
def key_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey, pk=pk)
    key_ops.revoke_key(key)
    if request.htmx:
        return _row(request, pk)
    return go_to(request, reverse("console:keys") + f"#key-{pk}")
