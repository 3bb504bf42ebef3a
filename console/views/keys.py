"""Virtual keys: create (the raw key shown once), edit limits in place (the row swaps
to a form and back with htmx), revoke, usage and spend per key. Every change goes
through ``gateway.access.keys`` like the API and the CLI, and what a key may hold is
the same ``key.grant`` rule the API asks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console import stats
from console.forms import KeyForm
from gateway.access import authorization, field_rules, roles
from gateway.access import keys as key_ops
from gateway.features import mcp
from gateway.models import ApiKey
from gateway.telemetry import audit, budget_spend
from gateway.web.decorators import actor_of, forbidden, staff_required
from gateway.web.http import HtmxHttpRequest, go_to
from gateway.web.saving import show_errors

TEMPLATE = "console/keys.html"
USAGE_DAYS = 30


def _with_usage(keys: list[ApiKey]) -> list[ApiKey]:
    usage = stats.usage_by(
        "key_id", [k.pk for k in keys], timezone.now() - timedelta(days=USAGE_DAYS)
    )
    empty = stats.with_prompt_cache(
        {"requests": 0, "errors": 0, "input_tokens": 0, "output_tokens": 0, "cost": 0}
    )
    ledger = budget_spend.Ledger()  # "spent $X of $Y this month": the rollups, per period
    for key in keys:
        key.standing = ledger.of_key(key)
        found = usage.get(key.pk, {})
        row = {**empty, **{k: v or 0 for k, v in found.items()}}
        row["prompt_cache_rate"] = found.get("prompt_cache_rate")
        row["tokens"] = row["input_tokens"] + row["output_tokens"]
        key.usage = row
        key.mcp_effective = key_ops.mcp_effective(key)
        key.a2a_effective = key_ops.a2a_effective(key)
    return keys


def _keys(request: HtmxHttpRequest) -> QuerySet:
    """The keys this user may see (roles.visible_keys)."""
    rows = ApiKey.objects.select_related("team", "user").prefetch_related("routes")
    return roles.visible_keys(actor_of(request), rows)


def _context(request: HtmxHttpRequest, **extra: Any) -> dict[str, Any]:
    keys = _with_usage(list(_keys(request)))
    actor = actor_of(request)
    for key in keys:
        key.changeable = roles.may_change_key(actor, key)
    return {"keys": keys, "usage_days": USAGE_DAYS, "can_edit": actor.can("keys.edit"), **extra}


def _owner_fields(request: HtmxHttpRequest, data: dict[str, Any]) -> dict[str, Any]:
    """team, user and scopes from the form (a member's or editor's key is their own
    unless they name its user)."""
    actor = actor_of(request)
    team, user = data.get("team"), data.get("user")
    if user is None and not actor.everywhere:
        user = request.user
    fields = {"team": team, "user": user}
    if "management" in data:
        fields["scopes"] = ["management"] if data["management"] else []
    return fields


def _refusal(request: HtmxHttpRequest, fields: dict[str, Any], key: ApiKey | None = None) -> str:
    """Why ``key.grant`` or the keys' field rules (``gateway.access.field_rules``)
    refuse what ``fields`` make of the key ("" if they do not; the same rules as /api). A field that does not parse is left to the save's
    ValidationError, shown on the form."""
    try:
        clean = key_ops.clean_fields(fields)
    except ValidationError:
        return ""
    decision = authorization.decide(actor_of(request), "key.grant", key_ops.proposed(clean, key))
    if not decision:
        return decision.reason
    # each field's rule: below admin, guardrails and tags are added, never removed
    stored = None if key is None else field_rules.stored_values(key, fields)
    return field_rules.refusal(actor_of(request), "keys", fields, stored)


@staff_required
def key_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request, form=KeyForm(actor=actor_of(request))))


@staff_required
def key_create(request: HtmxHttpRequest) -> HttpResponse:
    if request.method != "POST":  # the form is on the keys page (a GET was a blank 405)
        return go_to(request, reverse("console:keys") + "#new-key-form")
    form = KeyForm(request.POST, actor=actor_of(request))
    created = None
    if form.is_valid():
        data = form.cleaned_data
        fields = {
            **_key_fields(data),
            "expires_at": data["expires_at"],
            **_owner_fields(request, data),
            "mcp_allowed": data["mcp_allowed"],
            "a2a_allowed": data["a2a_allowed"],
            "guardrails": data.get("guardrails") or None,
            "tags": data["tags"] or None,
            "enforce_tags": data.get("enforce_tags") or None,  # offered to admins only
            "alert_thresholds": data["alert_thresholds"],
        }
        # an empty form field is one left out: an empty limit is the team's, followed live
        given = {f: v for f, v in fields.items() if v is not None}
        fields = key_ops.defaults_for(actor_of(request), given)
        refusal = _refusal(request, fields)
        if refusal:
            return forbidden(request, refusal)
        try:
            created = key_ops.create_key(**fields, minted_by=actor_of(request).holder_id)
        except ValidationError as exc:
            show_errors(form, exc)
        else:
            audit.key_minted(actor_of(request), created.key)
    warnings: list[str] = []
    if created is not None:
        warnings = _mcp_warnings(form.cleaned_data["mcp_allowed"])
        form = KeyForm(actor=actor_of(request))
    context = _context(request, form=form, created=created, mcp_warnings=warnings)
    template = TEMPLATE + "#keys-main" if request.htmx else TEMPLATE
    return render(request, template, context)


def _mcp_warnings(allowed: list[str]) -> list[str]:
    """What the saved MCP allow-list names that does not exist (it is saved anyway)."""
    return async_to_sync(mcp.allow_list_warnings)(allowed) if allowed else []


def _row(request: HtmxHttpRequest, pk: int, partial: str = "key-row", **extra: Any) -> HttpResponse:
    key = _with_usage([_keys(request).get(pk=pk)])[0]
    key.changeable = roles.may_change_key(actor_of(request), key)
    context = {"key": key, "usage_days": USAGE_DAYS, **extra}
    return render(request, f"{TEMPLATE}#{partial}", context)


def _key_fields(data: dict[str, Any]) -> dict[str, Any]:
    """What a new key and a changed one take alike from the form: its name, routes and
    limits (first, in the order the field rules are asked)."""
    return {
        "name": data["name"],
        "routes": [r.name for r in data["routes"]],
        "rpm_limit": data["rpm_limit"],
        "tpm_limit": data["tpm_limit"],
        "budget_usd": data["budget_usd"],
        "budget_period": data["budget_period"],
        "max_budget_per_user": data["max_budget_per_user"],
    }


def _changes(key: ApiKey, data: dict[str, Any]) -> dict[str, Any]:
    """update_key's arguments from the form. The expiry only when it changed, so that
    re-saving a key whose expiry has passed does not fail on "must be in the future"."""
    changes = {
        **_key_fields(data),
        "mcp_allowed": data["mcp_allowed"],
        "a2a_allowed": data["a2a_allowed"],
        "guardrails": data.get("guardrails") or [],
        "tags": data["tags"],
        "alert_thresholds": data["alert_thresholds"],
    }
    if "enforce_tags" in data:  # offered to owners and admins only
        changes["enforce_tags"] = data["enforce_tags"]
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
    return key if authorization.decide(actor_of(request), "key.change", key) else None


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
            changes = {
                **_changes(key, form.cleaned_data),
                **_owner_fields(request, form.cleaned_data),
            }
            refusal = _refusal(request, changes, key)
            if refusal:
                return forbidden(request, refusal)
            try:
                key_ops.update_key(key, **changes)
                saved = True
            except ValidationError as exc:
                show_errors(form, exc)
        if saved:
            warnings = _mcp_warnings(form.cleaned_data["mcp_allowed"])
            if request.htmx:
                return _row(request, pk, mcp_warnings=warnings)
            for warning in warnings:
                messages.warning(request, warning)
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
