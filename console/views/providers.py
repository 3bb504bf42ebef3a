"""Providers: list, create, edit, delete, test connection (all through admin_ops)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.core.exceptions import ValidationError
from django.db.models import Count, QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_POST
from django_htmx.http import reswap, retarget

from console.forms import ProviderForm
from gateway.models import Provider
from gateway.ops import admin_ops
from gateway.web.decorators import fields_refused, form_values, staff_required
from gateway.web.http import HtmxHttpRequest, deleted, go_to
from gateway.web.saving import show_errors

FORM_FIELDS = ("name", "kind", "base_url", "api_version", "timeout", "extra_headers")


def _providers() -> QuerySet:
    return Provider.objects.annotate(deployment_count=Count("deployments"))


@staff_required
def provider_list(request: HtmxHttpRequest) -> HttpResponse:
    return render(request, "console/providers.html", {"providers": _providers()})


def _edit(request: HtmxHttpRequest, provider: Provider | None) -> HttpResponse:
    if request.method == "POST":
        form = ProviderForm(request.POST)
        if form.is_valid() and (
            refused := fields_refused(
                request,
                "providers",
                {**form_values(form), "settings": form.values()["settings"]},
                provider,
            )
        ):
            return refused
        if form.is_valid():
            try:
                saved = admin_ops.save_provider(
                    provider, form.values(), secret=form.secret_change(provider is not None)
                )
            except ValidationError as exc:
                show_errors(form, exc)
            else:
                return go_to(request, reverse("console:providers") + f"#provider-{saved.pk}")
    else:
        initial: dict[str, Any] | None = None
        if provider is not None:  # stored values never go back to the browser; the mask keeps them
            initial = {f: getattr(provider, f) for f in FORM_FIELDS}
            initial["extra_headers"] = provider.extra_headers_display
            initial["base_url"] = provider.base_url_display
            initial |= ProviderForm.initial_settings(provider)
        form = ProviderForm(initial=initial)
    template = "console/provider_form.html"
    if request.htmx:
        template += "#provider-form"
    return render(request, template, {"form": form, "provider": provider})


@staff_required
def provider_create(request: HtmxHttpRequest) -> HttpResponse:
    return _edit(request, None)


@staff_required
def provider_edit(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    return _edit(request, get_object_or_404(Provider, pk=pk))


@staff_required
@require_POST
def provider_delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    try:
        admin_ops.delete_provider(provider)
    except ValidationError as exc:
        context = {"providers": _providers(), "error": " ".join(exc.messages)}
        template = "console/providers.html"
        if request.htmx:
            response = render(request, template + "#flash", context)
            return retarget(reswap(response, "innerHTML"), "#flash")
        return render(request, template, context, status=409)
    return deleted(request, reverse("console:providers"))


@staff_required
@require_POST
def provider_test(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    provider = get_object_or_404(Provider, pk=pk)
    result = async_to_sync(admin_ops.test_connection)(provider)
    context = {"provider": provider, "result": result}
    if request.htmx:
        return render(request, "console/providers.html#test-result", context)
    return render(
        request, "console/providers.html", {**context, "providers": _providers(), "tested": pk}
    )
