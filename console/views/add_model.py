"""Add a model in one form (``/routes/add-model/``): the provider (existing, or a new
one made inline), the model picked from the provider's own list, the route name, and
prices and window that default to the catalog's. Saving is ``gateway.ops.add_model``:
one transaction, all field errors at once, nothing written on any error.

Two htmx helpers refresh parts of the form from what it holds (POST, so a typed API
key never lands in a URL): the model list when the provider changes, and the catalog's
figures when the model changes. Neither writes anything."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console import model_picker
from console.add_model_form import NEW_PREFIX, OPTIONS_LIST, AddModelForm
from console.forms import ProviderForm
from gateway import catalog
from gateway.access import authorization, roles
from gateway.models import Provider, Team
from gateway.ops import admin_ops
from gateway.ops.add_model import AddModelErrors, NewProvider, add_model
from gateway.providers import kinds
from gateway.web.decorators import actor_of, fields_refused, forbidden, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, go_to
from gateway.web.saving import show_errors

TEMPLATE = "console/add_model.html"


def _forms(request: HtmxHttpRequest) -> tuple[AddModelForm, ProviderForm]:
    may = bool(authorization.decide(actor_of(request), "provider.change", None))
    if request.method == "POST":
        return (
            AddModelForm(request.POST, may_create_provider=may),
            ProviderForm(request.POST, prefix=NEW_PREFIX),
        )
    initial = {"model": request.GET["model"][:200]} if request.GET.get("model") else None
    return AddModelForm(initial=initial, may_create_provider=may), ProviderForm(prefix=NEW_PREFIX)


def _unsaved_provider(form: AddModelForm, new_form: ProviderForm) -> Provider | None:
    """The provider the form describes: the existing one picked, or the new one built
    from its fields (not saved; None while they do not validate)."""
    if not form.wants_new_provider():
        return form.chosen_provider()
    if not new_form.is_valid():
        return None
    try:
        provider = admin_ops.fill_provider(
            None, new_form.values(), secret=new_form.secret_change(False)
        )
        provider.full_clean(validate_unique=False)
    except ValidationError:
        return None
    return provider


def _kind_and_base(
    form: AddModelForm, new_form: ProviderForm
) -> tuple[catalog.KindVendor, str] | None:
    """The provider's kind's catalog vendor and base URL (a new one's as typed)."""
    if form.wants_new_provider():
        kind, base = new_form["kind"].value(), new_form["base_url"].value()
        return (kinds.catalog_vendor(str(kind or "")), str(base or "").strip().rstrip("/"))
    provider = form.chosen_provider()
    return (
        (kinds.catalog_vendor(provider.kind), provider.base_url.rstrip("/")) if provider else None
    )


def _with_catalog(form: AddModelForm, new_form: ProviderForm) -> AddModelForm:
    where = _kind_and_base(form, new_form)
    model = form.raw("model")
    form.show_catalog(catalog.entry_for(*where, model) if where and model else None)
    return form


def _page(request: HtmxHttpRequest, form: AddModelForm, new_form: ProviderForm) -> HttpResponse:
    context = {"form": _with_catalog(form, new_form), "new_form": new_form}
    template = TEMPLATE + "#add-model-form" if request.htmx else TEMPLATE
    return render(request, template, context)


def _show(form: AddModelForm, new_form: ProviderForm, errors: dict[str, Any]) -> None:
    """``add_model``'s errors next to their fields: the route's name is the route name
    field; the rest by their own names (others at the top of the form)."""
    route = dict(errors.get("route", {}))
    if "name" in route:
        route["route_name"] = route.pop("name")
    if errors.get("provider"):
        show_errors(new_form, ValidationError(errors["provider"]))
    for part in (route, errors.get("deployment", {})):
        if part:
            show_errors(form, ValidationError(part))


def _route_teams(request: HtmxHttpRequest) -> list[Team] | None:
    """Below admin, the route is limited to one's editor teams (as a new route is)."""
    teams = roles.teams_for_new_route(actor_of(request))
    return None if teams is None else list(Team.objects.filter(pk__in=teams))


@staff_required
def add_model_page(request: HtmxHttpRequest) -> HttpResponse:
    form, new_form = _forms(request)
    if request.method != "POST":
        return _page(request, form, new_form)
    new = form.wants_new_provider()
    if not new:  # the hidden new-provider fields are not checked (nor shown with errors)
        new_form = ProviderForm(prefix=NEW_PREFIX)
    valid = [form.is_valid(), new_form.is_valid() if new else True]
    if not new and form.is_valid() and form.chosen_provider() is None:
        form.add_error("provider", "pick a provider")
        valid.append(False)
    if not all(valid):
        return _page(request, form, new_form)
    if refused := fields_refused(request, "add_model", form_values(form)):
        return refused
    if new and (
        refused := fields_refused(
            request,
            "providers",
            {**form_values(new_form), "settings": new_form.values()["settings"]},
        )
    ):
        return refused
    if new:
        provider: Provider | NewProvider = NewProvider(
            new_form.values(), new_form.secret_change(False)
        )
    else:
        provider = form.chosen_provider()  # type: ignore[assignment]  # checked above
    try:
        added = add_model(
            actor_of(request),
            provider,
            form.route_values(),
            form.deployment_values(),
            teams=_route_teams(request),
        )
    except authorization.Denied as exc:
        return forbidden(request, exc.reason)
    except AddModelErrors as exc:
        _show(form, new_form, exc.errors)
        return _page(request, form, new_form)
    deployment = added.deployment
    messages.success(
        request,
        f"Added route {added.route.name}, answered by {added.provider.name}/{deployment.model}.",
    )
    if warning := _with_catalog(form, new_form).limits_warning:  # said where the route is too
        messages.warning(request, warning)
    pk = added.route.pk  # the banner is shown in the new route's card (the page opens there)
    return go_to(request, reverse("console:routes") + f"?added={pk}#route-{pk}")


@staff_required
@require_POST
def add_model_models(request: HtmxHttpRequest) -> HttpResponse:
    """The model list for the provider the form names: the upstream's own list (within
    ``model_picker.LIVE_TIMEOUT``) merged with the catalog; typing stays possible."""
    form, new_form = _forms(request)
    provider = _unsaved_provider(form, new_form)
    live: list[str] = []
    problem = ""
    if provider is None:
        problem = "Fill in the provider to list its models."
    elif provider.pk is not None:
        live = model_picker.live_models(provider)
        problem = "" if live else "The provider did not list its models."
    else:
        result = async_to_sync(admin_ops.test_connection)(provider, model_picker.LIVE_TIMEOUT)
        live = sorted(set(result.models)) if result.ok else []
        problem = "" if result.ok else f"The provider did not list its models: {result.error}"
    found = model_picker.options(provider, live) if provider else []
    context = {
        "picker": OPTIONS_LIST,
        "model_options": found,
        "listed": len(live),
        "from_catalog": sum(not option.listed for option in found),
        "problem": problem,
    }
    return render(request, TEMPLATE + "#model-list", context)


@staff_required
@require_POST
def add_model_figures(request: HtmxHttpRequest) -> HttpResponse:
    """The catalog's figures for the model the form names, in words and as the
    placeholders of the fields that override them (console.js sets them)."""
    form, new_form = _forms(request)
    return render(request, TEMPLATE + "#model-figures", {"form": _with_catalog(form, new_form)})
