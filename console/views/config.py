"""Import and export of a LiteLLM config.yaml: a preview of the plan first, then apply."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

from console.forms import ImportForm
from gateway.ops.litellm.apply import apply_plan
from gateway.ops.litellm.export import export_config
from gateway.ops.litellm.parse import ConfigError, parse_config
from gateway.ops.litellm.plan import plan_import
from gateway.telemetry import audit
from gateway.web.decorators import staff_required
from gateway.web.http import HtmxHttpRequest

TEMPLATE = "console/config_import.html"


@staff_required
def config_export(request: HtmxHttpRequest) -> HttpResponse:
    response = HttpResponse(export_config(), content_type="application/yaml; charset=utf-8")
    audit.exported("config", "LiteLLM config.yaml")
    response["Content-Disposition"] = 'attachment; filename="config.yaml"'
    return response


@staff_required
def config_import(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the form. POST: parse and plan, show the preview table (route, deployment,
    field, before -> after), skipped entries and warnings; POST with ``apply``: apply
    the same text (re-planned inside the transaction by ``apply_plan``)."""
    text_cap = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    context: dict[str, Any] = {"text_cap": text_cap}
    try:
        form = ImportForm(request.POST or None, request.FILES or None)
    except RequestDataTooBig:  # pasted text beyond Django's cap: say so on the field
        form = ImportForm({})
        form.is_valid()
        form.add_error(
            "config",
            f"Too large to paste: at most {filesizeformat(text_cap)} of text; "
            "upload the file instead.",
        )
    if request.method == "POST" and form.is_valid():
        text = form.text()
        context["text"] = text
        context["existing"] = form.existing_mode()
        try:
            config = parse_config(text)
            config.allow_weak_master_key = form.cleaned_data["allow_weak_master_key"]
            context["allow_weak_master_key"] = config.allow_weak_master_key
            plan = plan_import(config, form.existing_mode())
        except ConfigError as exc:
            form.add_error("config", str(exc))
        else:
            if "apply" in request.POST and plan.has_changes:
                context["result"] = apply_plan(plan)
            else:
                context["plan"] = plan
    context["form"] = form
    template = TEMPLATE + "#import-panel" if request.htmx else TEMPLATE
    return render(request, template, context)
