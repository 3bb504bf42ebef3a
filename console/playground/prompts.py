"""Named saved prompts: each console user keeps playground prompts (system prompt,
conversation with its files, shared parameters, tools) under names of their own, and
loads one into a new comparison (``/playground/?prompt=ID``). Saving under a name the
user already has replaces that prompt."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.db import IntegrityError, transaction
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from console.decorators import staff_required
from console.models import SavedPrompt
from console.playground import spec as specs
from console.views.common import HtmxHttpRequest, go_to

TEMPLATE = "console/playground_prompts.html"
NAME_LENGTH = 100


class PromptError(ValueError):
    """Why a prompt cannot be saved, said to the user."""


def saved_prompts(user: Any) -> list[SavedPrompt]:
    return list(SavedPrompt.objects.filter(owner=user).only("id", "name", "updated_at"))


def owned(user: Any, pk: Any) -> SavedPrompt:
    """The user's own saved prompt ``pk`` (another user's is not found)."""
    try:
        prompt: SavedPrompt = SavedPrompt.objects.get(pk=int(pk), owner=user)
        return prompt
    except (TypeError, ValueError, SavedPrompt.DoesNotExist):
        raise Http404("no such saved prompt") from None


def prefill_of(prompt: SavedPrompt) -> dict[str, Any]:
    """What a saved prompt fills in (the columns are the page's defaults)."""
    return {
        "system": prompt.system,
        "messages": prompt.messages,
        "params": prompt.params,
        "tools": prompt.tools,
    }


def parse_saved(name: Any, raw: Any) -> dict[str, Any]:
    """The fields of a prompt to save from the page's ``name`` and ``spec`` (JSON: the
    run spec's system, messages, params and tools), checked like a run."""
    name = " ".join(str(name or "").split())
    if not name:
        raise PromptError("give the prompt a name")
    if len(name) > NAME_LENGTH:
        raise PromptError(f"a name has at most {NAME_LENGTH} characters")
    try:
        data = orjson.loads(raw or b"")
    except orjson.JSONDecodeError:
        raise PromptError("nothing to save: the page sent no prompt") from None
    if not isinstance(data, dict):
        raise PromptError("nothing to save: the page sent no prompt")
    system = data.get("system") or ""
    if not isinstance(system, str):
        raise PromptError("the system prompt must be text")
    try:
        messages = specs.parse_messages(data.get("messages"))
        params = specs.parse_params(data.get("params"), "shared parameters")
        tools = specs.parse_tools(data.get("tools"))
    except specs.SpecError as exc:
        raise PromptError(str(exc)) from None
    return {
        "name": name,
        "system": system,
        "messages": messages,
        "params": params.as_dict(),
        "tools": tools,
    }


def _list(request: HtmxHttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"saved_prompts": saved_prompts(request.user), "saved_open": True, **extra}
    return render(request, TEMPLATE, context, status=status)


@staff_required
@require_POST
def save(request: HtmxHttpRequest) -> HttpResponse:
    try:
        try:
            fields = parse_saved(request.POST.get("name"), request.POST.get("spec"))
        except RequestDataTooBig:
            raise PromptError("too large to save: attachments and all, at most 2.5 MB") from None
        with transaction.atomic():
            prompt, created = SavedPrompt.objects.update_or_create(
                owner=request.user,
                name=fields.pop("name"),
                defaults={**fields, "updated_at": timezone.now()},
            )
    except (PromptError, IntegrityError) as exc:
        if not request.htmx:
            return HttpResponse(str(exc), status=400, content_type="text/plain")
        return _list(request, prompt_error=str(exc), prompt_name=request.POST.get("name", ""))
    if not request.htmx:
        return go_to(request, f"{reverse('console:playground')}?prompt={prompt.pk}")
    verb = "Saved" if created else "Replaced"
    return _list(request, prompt_note=f"{verb} “{prompt.name}”.", prompt_name=prompt.name)


@staff_required
@require_POST
def delete(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    prompt = owned(request.user, pk)
    prompt.delete()
    if not request.htmx:
        return go_to(request, reverse("console:playground"))
    return _list(request, prompt_note=f"Deleted “{prompt.name}”.")
