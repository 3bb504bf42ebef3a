"""The prompt registry in the console (``gateway.features.prompts``): the list of prompts with
their labels, a new prompt; a prompt's page with its versions, its labels (moved from
there: how a version goes live), a new version, and the difference between two
versions (``difflib``, line by line, rendered as HTML). Every role reads; writes ask rule
``prompt.change`` (owners and admins any prompt, others their own). The playground
opens a version and saves a new one (``console.playground.prompts``)."""

from __future__ import annotations

from typing import Any

from django.http import HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from gateway.access import authorization
from gateway.base.numbers import ascii_int
from gateway.features.prompts import metrics, versions
from gateway.models import Prompt, PromptVersion
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, go_to

LIST_TEMPLATE = "prompts/list.html"
DETAIL_TEMPLATE = "prompts/detail.html"
DIFF_TEMPLATE = "prompts/diff.html"


def _messages_from(post: Any) -> list[dict[str, str]]:
    """The form's message rows (``role`` and ``content`` lists), empty rows left out."""
    roles, contents = post.getlist("role"), post.getlist("content")
    return [
        {"role": role, "content": content}
        for role, content in zip(roles, contents, strict=False)
        if content.strip()
    ]


def _params_from(post: Any) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, kind in (("temperature", float), ("top_p", float), ("max_tokens", int)):
        raw = post.get(name, "").strip()
        if raw:
            try:
                params[name] = kind(raw)
            except ValueError:
                raise versions.PromptError("params", f"{name} must be a number") from None
    if post.get("reasoning_effort"):
        params["reasoning_effort"] = post["reasoning_effort"]
    return params


def _draft(post: Any) -> versions.Draft:
    return versions.draft(
        _messages_from(post), post.get("model", ""), _params_from(post), None, post.get("note", "")
    )


def _labels(post: Any) -> tuple[str, ...]:
    return tuple(label for label in post.get("labels", "").replace(",", " ").split() if label)


@staff_required
def prompt_list(request: HtmxHttpRequest) -> HttpResponse:
    actor = actor_of(request)
    may_create = bool(authorization.decide(actor, "prompt.change", None))
    error: versions.PromptError | None = None
    if request.method == "POST":
        if not may_create:
            return HttpResponse("your role may not create prompts", status=403)
        try:
            prompt, _ = versions.create(
                request.POST.get("name"), _draft(request.POST), user=request.user,
                description=request.POST.get("description", ""), labels=_labels(request.POST),
            )  # fmt: skip
        except versions.PromptError as exc:
            error = exc
        else:
            return go_to(request, reverse("console:prompt-detail", args=[prompt.name]))
    prompts = list(
        Prompt.objects.select_related("created_by").prefetch_related("labels__version", "versions")
    )
    rows = [
        {
            "prompt": p,
            "latest": max((v.number for v in p.versions.all()), default=0),
            "labels": sorted((label.name, label.version.number) for label in p.labels.all()),
        }
        for p in prompts
    ]
    return render(
        request,
        LIST_TEMPLATE,
        {
            "rows": rows,
            "may_create": may_create,
            "error": error,
            "form": request.POST,
            "efforts": versions.EFFORTS,
            "latest": None,
            "draft_messages": _messages_from(request.POST) or [{"role": "system", "content": ""}],
        },  # fmt: skip
        status=422 if error else 200,
    )


@staff_required
def prompt_detail(request: HtmxHttpRequest, name: str) -> HttpResponse:
    prompt = get_object_or_404(Prompt, name=name)
    actor = actor_of(request)
    may_change = bool(authorization.decide(actor, "prompt.change", prompt))
    error: versions.PromptError | None = None
    note = ""
    if request.method == "POST":
        if not may_change:
            return HttpResponse(
                "only its author, an admin or an owner may change this prompt", status=403
            )
        action = request.POST.get("action", "version")
        who = request.user.get_username()
        try:
            if action == "label":
                versions.move_label(
                    prompt, request.POST.get("label"), request.POST.get("version"), who
                )
                note = f"{request.POST.get('label')} now points at version {request.POST.get('version')}."
            elif action == "unlabel":
                versions.remove_label(prompt, str(request.POST.get("label", "")))
                note = f"Label {request.POST.get('label')} removed."
            else:
                made = versions.add_version(
                    prompt, _draft(request.POST), by=who, labels=_labels(request.POST)
                )
                note = f"Saved version {made.number}."
        except versions.PromptError as exc:
            error = exc
    history = list(prompt.versions.prefetch_related("labels").order_by("-number"))
    latest = history[0] if history else None
    context = {
        "prompt": prompt,
        "versions": history,
        "metrics": metrics.per_version(prompt.name),
        "metrics_days": metrics.DAYS,
        "latest": latest,
        "labels": sorted(prompt.labels.select_related("version"), key=lambda label: label.name),
        "may_change": may_change,
        # the evaluations run versions on a dataset (console.evals.prompt_views)
        "may_compare": len(history) > 1 and actor.can("evals.use"),
        "error": error,
        "note": note,
        "form": request.POST if error else None,
        "efforts": versions.EFFORTS,
        "draft_messages": (request.POST and _messages_from(request.POST))
        or (latest.messages if latest else [])
        or [{"role": "system", "content": ""}],
    }
    return render(request, DETAIL_TEMPLATE, context, status=422 if error else 200)


@staff_required
@require_GET
def prompt_diff(request: HtmxHttpRequest, name: str) -> HttpResponse:
    """``?from=N&to=M`` (default: the two newest): every line of both, marked."""
    prompt = get_object_or_404(Prompt, name=name)
    numbers = list(prompt.versions.order_by("-number").values_list("number", flat=True))

    def asked(key: str, default: int) -> int:
        number = ascii_int(request.GET.get(key, ""))
        return number if number is not None and number in numbers else default

    newest = numbers[0] if numbers else 0
    to = asked("to", newest)
    older = asked("from", next((n for n in numbers if n < to), to))
    lines = []
    if numbers:
        found = {
            v.number: v for v in PromptVersion.objects.filter(prompt=prompt, number__in=(older, to))
        }
        lines = versions.diff(found[older], found[to])
    context = {
        "prompt": prompt,
        "numbers": numbers,
        "from_version": older,
        "to_version": to,
        "lines": lines,
        "added": sum(1 for line in lines if line.kind == "added"),
        "removed": sum(1 for line in lines if line.kind == "removed"),
    }
    template = f"{DIFF_TEMPLATE}#diff" if request.htmx else DIFF_TEMPLATE
    return render(request, template, context)
