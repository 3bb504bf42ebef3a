"""Virtual keys: create (the raw key shown once), edit limits in place (the row swaps
to a form and back with htmx), revoke, usage and spend per key. Every change goes
through ``gateway.policy.keys`` like the API and the CLI."""

from __future__ import annotations

from datetime import timedelta

from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console import stats
from console.decorators import actor_of, forbidden, staff_required
from console.forms import KeyForm, show_errors
from console.views.common import HtmxHttpRequest, go_to
from gateway.models import ApiKey
from gateway.policy import keys as key_ops
from gateway.policy import roles

TEMPLATE = "console/keys.html"
USAGE_DAYS = 30


def _with_usage(keys: list[ApiKey]) -> list[ApiKey]:
    usage = stats.key_usage([k.pk for k in keys], timezone.now() - timedelta(days=USAGE_DAYS))
    empty = stats.with_prompt_cache(
        {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0}
    )
    for key in keys:
        found = usage.get(key.pk, {})
        row = {**empty, **{k: v or 0 for k, v in found.items()}}
        row["prompt_cache_rate"] = found.get("prompt_cache_rate")
        row["tokens"] = row["input_tokens"] + row["output_tokens"]
        key.usage = row
        key.mcp_effective = key_ops.mcp_effective(key)
    return keys


def _keys(request: HtmxHttpRequest):  # type: ignore[no-untyped-def]
    """The keys this user may see (roles.visible_keys)."""
    rows = ApiKey.objects.select_related("team", "user").prefetch_related("routes")
    return roles.visible_keys(actor_of(request), rows)


def _context(request: HtmxHttpRequest, **extra) -> dict:
    keys = _with_usage(list(_keys(request)))
    actor = actor_of(request)
    for key in keys:
        key.changeable = roles.may_change_key(actor, key)
    return {"keys": keys, "usage_days": USAGE_DAYS, "can_edit": actor.can("keys.edit"), **extra}


def _owner_fields(request: HtmxHttpRequest, data: dict) -> dict | None:
    """team, user and scopes from the form, or None when this user may not give them."""
    actor = actor_of(request)
    team, user = data.get("team"), data.get("user")
    if user is None and not actor.everywhere:
        user = request.user  # a member's or editor's key is their own
    if not roles.may_assign_key(actor, team.pk if team else None, user.pk if user else None):
        return None
    fields = {"team": team, "user": user}
    if "management" in data:
        fields["scopes"] = ["management"] if data["management"] else []
    return fields


@staff_required
def key_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request, form=KeyForm(actor=actor_of(request))))


@staff_required
@require_POST
def key_create(request: HtmxHttpRequest) -> HttpResponse:
    form = KeyForm(request.POST, actor=actor_of(request))
    created = None
    if form.is_valid():
        data = form.cleaned_data
        owner = _owner_fields(request, data)
        if owner is None:
            return forbidden(request, "A key may only belong to your own teams and to you.")
        try:
            created = key_ops.create_key(
                name=data["name"],
                routes=[r.name for r in data["routes"]],
                rpm_limit=data["rpm_limit"],
                tpm_limit=data["tpm_limit"],
                budget_usd=data["budget_usd"],
                budget_period=data["budget_period"],
                max_budget_per_user=data["max_budget_per_user"],
                expires_at=data["expires_at"],
                **owner,
                mcp_allowed=data["mcp_allowed"],
            )
        except ValidationError as exc:
            show_errors(form, exc)
    if created is not None:
        form = KeyForm(actor=actor_of(request))
    context = _context(request, form=form, created=created)
    template = TEMPLATE + "#keys-main" if request.htmx else TEMPLATE
    return render(request, template, context)


def _row(request: HtmxHttpRequest, pk: int, partial: str = "key-row", **extra) -> HttpResponse:
    key = _with_usage([_keys(request).get(pk=pk)])[0]
    key.changeable = roles.may_change_key(actor_of(request), key)
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
        "max_budget_per_user": data["max_budget_per_user"],
        "mcp_allowed": data["mcp_allowed"],
    }
    stored = key.expires_at.replace(second=0, microsecond=0) if key.expires_at else None
    if data["expires_at"] != stored:
        changes["expires_at"] = data["expires_at"]
    return changes


def _edit_ids(pk: int) -> str:
    """Field ids of a key's edit row, distinct from the new-key form on the same page."""
    return f"id_key{pk}_%s"


def _changeable(request: HtmxHttpRequest, pk: int) -> ApiKey | None:
    """The key if this user may change it (404 if they may not even see it)."""
    key = get_object_or_404(_keys(request), pk=pk)
    return key if roles.may_change_key(actor_of(request), key) else None


@staff_required
def key_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    key = _changeable(request, pk)
    if key is None:
        return forbidden(request, "This key belongs to another user or team.")
    actor = actor_of(request)
    if request.method == "POST":
        form = KeyForm(request.POST, auto_id=_edit_ids(pk), actor=actor)
        saved = False
        if form.is_valid():
            owner = _owner_fields(request, form.cleaned_data)
            if owner is None:
                return forbidden(request, "A key may only belong to your own teams and to you.")
            try:
                key_ops.update_key(key, **_changes(key, form.cleaned_data), **owner)
                saved = True
            except ValidationError as exc:
                show_errors(form, exc)
        if saved:
            if request.htmx:
                return _row(request, pk)
            return go_to(request, reverse("console:keys") + f"#key-{pk}")
    else:
        form = KeyForm.for_key(key, auto_id=_edit_ids(pk), actor=actor)
    if request.htmx:
        return _row(request, pk, "key-edit-row", form=form)
    context = _context(request, form=KeyForm(actor=actor), edit_key=pk, edit_form=form)
    return render(request, TEMPLATE, context)


@staff_required
@require_POST
def key_revoke(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    key = _changeable(request, pk)
    if key is None:
        return forbidden(request, "This key belongs to another user or team.")
    key_ops.revoke_key(key)
    if request.htmx:
        return _row(request, pk)
    return go_to(request, reverse("console:keys") + f"#key-{pk}")
