"""The playground and the prompt registry (``gateway.features.prompts``): a version opens into a
new comparison (``/playground/?prompt=NAME&version=N``; without a version, the one a
request would get: ``production``'s, else the newest), and the form's system prompt,
conversation, shared parameters and tools are saved as the next version of a prompt
(a new name creates the prompt). Saving asks rule ``prompt.change`` (owners and admins
any prompt, others their own). A version holds text messages only: a conversation with
files or tool turns is refused with a message saying so, never saved without them."""

from __future__ import annotations

from typing import Any

import orjson
from django.core.exceptions import RequestDataTooBig
from django.db.models import Max
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from console.playground import spec as specs
from gateway.access import authorization
from gateway.features.prompts import versions
from gateway.models import Prompt, PromptVersion
from gateway.web.decorators import actor_of, staff_required
from gateway.web.http import HtmxHttpRequest, first_or_404, go_to

TEMPLATE = "console/playground_prompts.html"
PLAYGROUND_PARAMS = ("temperature", "max_tokens", "reasoning_effort")


class PromptError(ValueError):
    """Why a prompt cannot be saved, said to the user."""


def saved_prompts() -> list[Prompt]:
    """Every prompt of the registry (any role reads them), with its newest number."""
    return list(Prompt.objects.annotate(latest=Max("versions__number")).order_by("name"))


def opened(name: Any, number: Any = None) -> PromptVersion:
    """Version ``number`` of prompt ``name``, or the one a request would get."""
    prompt = first_or_404(Prompt.objects.filter(name=str(name or "")), "no such prompt")
    if number not in (None, ""):
        try:
            found: PromptVersion = prompt.versions.get(number=int(number))
            return found
        except (TypeError, ValueError, PromptVersion.DoesNotExist):
            raise Http404("no such version") from None
    labelled = prompt.labels.filter(name="production").select_related("version").first()
    newest: PromptVersion | None = (
        labelled.version if labelled else prompt.versions.order_by("-number").first()
    )
    if newest is None:
        raise Http404("this prompt has no version")
    return newest


def prefill_of(version: PromptVersion) -> dict[str, Any]:
    """What a version fills in: system and developer messages as the system prompt, the
    rest as the conversation (the columns are the page's defaults)."""
    system = "\n\n".join(
        m["content"] for m in version.messages if m.get("role") in ("system", "developer")
    )
    messages = [
        {"role": m["role"], "content": m["content"]}
        for m in version.messages
        if m.get("role") in ("user", "assistant")
    ]
    return {
        "system": system,
        "messages": messages,
        "params": {k: v for k, v in (version.params or {}).items() if k in PLAYGROUND_PARAMS},
        "tools": version.tools or [],
    }


def draft_of(raw: Any, note: Any = "") -> versions.Draft:
    """The page's ``spec`` (JSON: system, messages, params, tools) as a version's content,
    checked like a run."""
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
    if any(m["role"] == "tool" or m.get("tool_calls") or m.get("attachments") for m in messages):
        raise PromptError(
            "a prompt version keeps text messages only: remove the files and tool turns"
        )
    turns = [{"role": m["role"], "content": m["content"]} for m in messages]
    opening = [{"role": "system", "content": system}] if system.strip() else []
    try:
        return versions.draft([*opening, *turns], "", params.as_dict(), tools, note)
    except versions.PromptError as exc:
        raise PromptError(str(exc)) from None


def _list(request: HtmxHttpRequest, *, status: int = 200, **extra: Any) -> HttpResponse:
    context = {"saved_prompts": saved_prompts(), "saved_open": True, **extra}
    return render(request, TEMPLATE, context, status=status)


@staff_required
@require_POST
def save(request: HtmxHttpRequest) -> HttpResponse:
    """The form as the next version of the prompt named (created when new)."""
    name = " ".join(str(request.POST.get("name") or "").split()).replace(" ", "-")
    try:
        try:
            content = draft_of(request.POST.get("spec"), request.POST.get("note", ""))
        except RequestDataTooBig:
            raise PromptError("too large to save") from None
        prompt = Prompt.objects.filter(name=name).first()
        if not authorization.decide(actor_of(request), "prompt.change", prompt):
            raise PromptError(
                "you may not save versions of this prompt"
                if prompt
                else "your role may not create prompts"
            )
        if prompt is None:
            prompt, version = versions.create(name, content, user=request.user)
        else:
            version = versions.add_version(prompt, content, by=request.user.get_username())
    except (PromptError, versions.PromptError) as exc:
        if not request.htmx:
            return HttpResponse(str(exc), status=400, content_type="text/plain")
        return _list(request, prompt_error=str(exc), prompt_name=request.POST.get("name", ""))
    if not request.htmx:
        return go_to(
            request,
            f"{reverse('console:playground')}?prompt={prompt.name}&version={version.number}",
        )
    return _list(
        request,
        prompt_note=f"Saved “{prompt.name}” v{version.number}.",
        prompt_name=prompt.name,
        loaded_prompt=version,
    )
