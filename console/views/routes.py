"""Routes and deployments, edited in place: each route is a card (``route-card``
partial) whose edit form and deployment rows swap in and out with htmx; without
JavaScript the same URLs render whole pages."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms import Form
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from console import model_picker, stats
from console.forms import DeploymentForm, RouteForm
from gateway import catalog
from gateway.access import field_rules, roles
from gateway.models import Deployment, Provider, Route, Team
from gateway.ops import admin_ops
from gateway.web.decorators import actor_of, fields_refused, forbidden, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, deleted, go_to
from gateway.web.saving import show_errors

TEMPLATE = "console/routes.html"
USAGE_DAYS = 30

Saved = TypeVar("Saved")  # what an admin_ops save returns (a Route, a Deployment)


def _routes() -> QuerySet:
    return Route.objects.prefetch_related("deployments__provider", "teams")


def _with_usage(routes: Iterable[Route]) -> list[Route]:
    """Routes with ``usage``: their last ``USAGE_DAYS`` from the hourly rollups
    (requests, spend, prompt-cache reads, writes, hit rate and dollars saved)."""
    rows = list(routes)
    since = timezone.now() - timedelta(days=USAGE_DAYS)
    usage = stats.usage_by("route", [r.name for r in rows], since)
    for route in rows:
        route.usage = usage.get(route.name)
    return rows


def _card(request: HtmxHttpRequest, route: Route, **extra: Any) -> HttpResponse:
    """The route's card, re-read so it shows what was saved."""
    route = _with_usage(_routes().filter(pk=route.pk))[0]
    response = render(request, TEMPLATE + "#route-card", {"route": route, **extra})
    return retarget(reswap(response, "outerHTML"), f"#route-{route.pk}")


def _whole_page(request: HtmxHttpRequest, status: int = 200, **extra: Any) -> HttpResponse:
    context = {
        "routes": _with_usage(roles.visible_routes(actor_of(request), _routes())),
        "usage_days": USAGE_DAYS,
        "has_providers": Provider.objects.exists(),
        **extra,
    }
    if context.get("added") not in {route.pk for route in context["routes"]}:
        context["added"] = None  # a route not listed here: the messages stay on top
    return render(request, TEMPLATE, context, status=status)


@staff_required
def route_list(request: HtmxHttpRequest) -> HttpResponse:
    """The routes; ``?added=<pk>`` (Add model's redirect, which opens the page at that
    route) shows the messages in that route's card instead of above the fold."""
    added = request.GET.get("added", "")
    return _whole_page(request, added=int(added) if added.isdigit() else None)


def _save(
    form: Form,
    save: Callable[[dict[str, Any]], Saved],
    check: Callable[[dict[str, Any]], dict[str, list[str]]] | None = None,
) -> Saved | None:
    """Run admin_ops' ``save`` with the form's values; errors go next to fields. A form
    with errors of its own also gets ``check``'s (the save's checks on the values that
    did parse), so that one submit shows every error, not one round of them."""
    if not form.is_valid():
        if check is not None:
            for field, messages in check(form.values()).items():
                if field not in form.errors:
                    show_errors(form, ValidationError({field: messages}))
        return None
    try:
        return save(form.values())
    except ValidationError as exc:
        show_errors(form, exc)
        return None


def _then(query: Mapping[str, Any]) -> dict[str, str]:
    """The deployment to suggest once the route exists (the catalog's "Add as route"
    passes a model and a provider): carried through the route form in hidden fields."""
    then = {"model": str(query.get("model", ""))[:200], "provider": str(query.get("provider", ""))}
    return {k: v for k, v in then.items() if v and (k != "provider" or v.isdigit())}


def _set_teams(request: HtmxHttpRequest, route: Route, form: RouteForm) -> None:
    """The teams the form chose; below admin only among one's own editor teams, and a
    route an editor saves stays limited to their teams (all of them when none chosen)."""
    actor = actor_of(request)
    chosen = form.chosen_teams()
    if not actor.everywhere:
        mine = actor.editor_teams()
        chosen = [t for t in chosen if t.pk in mine] or list(
            Team.objects.filter(pk__in=roles.teams_for_new_route(actor) or [])
        )
    route.teams.set(chosen)


def _refused(request: HtmxHttpRequest, route: Route) -> HttpResponse | None:
    """The 403 page when this user's role may not change ``route`` (editors: only the
    routes of their teams), else None."""
    if roles.may_change_route(actor_of(request), route):
        return None
    return forbidden(request, f"Route {route.name} is not one of your teams' routes.")


def _changing_route(
    view: Callable[[HtmxHttpRequest, Route], HttpResponse],
) -> Callable[[HtmxHttpRequest, int], HttpResponse]:
    """A view of one route (``pk``) that changes it: called with the route, or the 403
    page (``_refused``) instead."""

    @functools.wraps(view)
    def changing(request: HtmxHttpRequest, pk: int) -> HttpResponse:
        route = get_object_or_404(Route, pk=pk)
        if (refused := _refused(request, route)) is not None:
            return refused
        return view(request, route)

    return changing


def _fields_refused(request: HtmxHttpRequest, route: Route, form: RouteForm) -> HttpResponse | None:
    """The 403 page when the form changes a field the user's role may not
    (``gateway.access.field_rules``: below admin, guardrails are added, never removed)."""
    if not form.is_valid():
        return None
    values = form.values()
    reason = field_rules.refusal(
        actor_of(request), "routes", values, field_rules.stored_values(route, values)
    )
    return forbidden(request, reason) if reason else None


@staff_required
def route_create(request: HtmxHttpRequest) -> HttpResponse:
    if request.method == "POST":
        form = RouteForm(request.POST, actor=actor_of(request))
    else:
        form = RouteForm(initial={"name": request.GET["name"]} if request.GET.get("name") else None)
    then = _then(request.POST if request.method == "POST" else request.GET)
    if request.method == "POST":
        if form.is_valid() and (refused := fields_refused(request, "routes", form.values())):
            return refused
        route = _save(
            form,
            lambda values: admin_ops.save_route(None, values),
            lambda values: admin_ops.route_errors(Route(), values),
        )
        if route is not None:
            _set_teams(request, route, form)  # an editor's route belongs to their teams
            if Provider.objects.exists():
                # A route answers nothing until it has a deployment: go on to its form.
                messages.success(
                    request, f"Created route {route.name}. Now add the deployment that answers it."
                )
                url = reverse("console:deployment-create", args=[route.pk])
                return go_to(request, url + (f"?{urlencode(then)}" if then else ""))
            # No provider to deploy on yet: the route's card (a query string, so that the
            # browser loads the page even when it is already on /routes/).
            return go_to(request, reverse("console:routes") + f"?new={route.pk}#route-{route.pk}")
    if request.htmx:
        return render(request, TEMPLATE + "#route-new", {"form": form, "then": then})
    return render(request, "console/route_new.html", {"form": form, "then": then})


@staff_required
@_changing_route
def route_edit(request: HtmxHttpRequest, route: Route) -> HttpResponse:
    pk = route.pk
    if request.method == "POST":
        form = RouteForm(request.POST, actor=actor_of(request), attached=route.mcp_servers)
        if (refused := _fields_refused(request, route, form)) is not None:
            return refused
        saved = _save(
            form,
            lambda values: admin_ops.save_route(route, values),
            lambda values: admin_ops.route_errors(copy.copy(route), values),
        )
        if saved is not None:
            _set_teams(request, saved, form)
            return (
                _card(request, saved)
                if request.htmx
                else go_to(request, reverse("console:routes") + f"#route-{pk}")
            )
        route = get_object_or_404(Route, pk=pk)  # drop the unsaved assignments
    else:
        form = RouteForm(initial=RouteForm.initial_of(route))
    context = {"route": route, "form": form, "editing": True}
    if request.htmx:
        return render(request, TEMPLATE + "#route-card", context)
    return _whole_page(request, edit_route=pk, form=form)


@staff_required
@require_POST
@_changing_route
def route_toggle(request: HtmxHttpRequest, route: Route) -> HttpResponse:
    admin_ops.save_route(route, {"enabled": not route.enabled})
    if request.htmx:
        return _card(request, route)
    return go_to(request, reverse("console:routes") + f"#route-{route.pk}")


@staff_required
@require_POST
@_changing_route
def route_delete(request: HtmxHttpRequest, route: Route) -> HttpResponse:
    try:
        admin_ops.delete_route(route)
    except ValidationError as exc:
        if request.htmx:
            return _card(request, route, error=" ".join(exc.messages))
        return _whole_page(request, status=409, error=" ".join(exc.messages))
    return deleted(request, reverse("console:routes"))


def _back_to_route(request: HtmxHttpRequest, route: Route, done: str) -> HttpResponse:
    """After a deployment is saved: the route's card in place (htmx), else (no
    JavaScript, or the standalone page opened directly) the routes page at this route's
    card, saying what was saved."""
    if request.htmx:
        return _card(request, route)
    messages.success(request, done)
    return go_to(request, reverse("console:routes") + f"#route-{route.pk}")


@staff_required
@_changing_route
def deployment_create(request: HtmxHttpRequest, route: Route) -> HttpResponse:
    suggested = _then(request.GET) if request.method == "GET" else {}
    form = DeploymentForm(
        request.POST or None, initial=suggested or None, picker=f"models-r{route.pk}-new"
    )
    if request.method == "POST":
        if form.is_valid() and (
            refused := fields_refused(request, "deployments", form_values(form))
        ):
            return refused
        saved = _save(
            form,
            lambda values: admin_ops.save_deployment(route, None, values, actor=actor_of(request)),
        )
        if saved is not None:
            return _back_to_route(
                request,
                route,
                f"Added deployment {saved.provider.name}/{saved.model} to {route.name}.",
            )
    chosen = _provider(form["provider"].value()) or Provider.objects.first()
    context = {"route": route, "form": form, "model_options": _catalog_options(chosen)}
    if request.htmx:
        return render(request, TEMPLATE + "#deployment-new", context)
    return render(request, "console/deployment_form.html", context)


@staff_required
def deployment_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment = get_object_or_404(Deployment.objects.select_related("route", "provider"), pk=pk)
    route = deployment.route
    if (refused := _refused(request, route)) is not None:
        return refused
    picker = f"models-d{pk}"
    if request.method == "POST":
        form = DeploymentForm(request.POST, picker=picker)
        if form.is_valid() and (
            refused := fields_refused(request, "deployments", form_values(form), deployment)
        ):
            return refused
        saved = _save(
            form,
            lambda values: admin_ops.save_deployment(
                route, deployment, values, actor=actor_of(request)
            ),
        )
        if saved is not None:
            return _back_to_route(
                request,
                route,
                f"Saved deployment {saved.provider.name}/{saved.model} of {route.name}.",
            )
        deployment = Deployment.objects.select_related("route", "provider").get(pk=pk)
    else:
        form = DeploymentForm(
            initial={
                **{
                    f: getattr(deployment, f)
                    for f in DeploymentForm.field_names()
                    if f != "provider" and f not in DeploymentForm.UNIT_PRICES
                },
                "provider": deployment.provider_id,
            },
            picker=picker,
        )
    form.show_figures(catalog.figures_for(deployment))
    context = {
        "route": route,
        "deployment": deployment,
        "form": form,
        "model_options": _catalog_options(deployment.provider),
    }
    if request.htmx:
        return render(request, TEMPLATE + "#deployment-edit", context)
    return render(request, "console/deployment_form.html", context)


def _provider(value: object) -> Provider | None:
    try:
        provider: Provider | None = Provider.objects.filter(pk=int(str(value))).first()
        return provider
    except ValueError:
        return None


def _catalog_options(provider: Provider | None) -> list[model_picker.Option]:
    """The picker's options without asking the upstream (the page renders at once;
    htmx then loads the provider's own list)."""
    return model_picker.options(provider, []) if provider is not None else []


@staff_required
def deployment_models(request: HtmxHttpRequest) -> HttpResponse:
    """The model picker's <datalist> for a provider: its own models list merged with
    the catalog, each with price and context window."""
    picker = request.GET.get("list", "models-new")
    if not picker.replace("-", "").isalnum():
        picker = "models-new"
    provider = _provider(request.GET.get("provider"))
    found = model_picker.options(provider, model_picker.live_models(provider)) if provider else []
    return render(request, TEMPLATE + "#model-options", {"picker": picker, "model_options": found})


@staff_required
@require_POST
def deployment_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    deployment = get_object_or_404(Deployment.objects.select_related("route"), pk=pk)
    route = deployment.route
    if (refused := _refused(request, route)) is not None:
        return refused
    admin_ops.delete_deployment(deployment)
    if request.htmx:
        return _card(request, route)
    return go_to(request, reverse("console:routes") + f"#route-{route.pk}")
