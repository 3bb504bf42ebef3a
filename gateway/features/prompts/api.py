"""The prompt registry in the management API (``gateway.features.prompts``): any role lists and
fetches prompts; owners and admins change any, editors and members theirs (rule
``prompt.change``).

``GET /api/prompts/{name}`` answers one version: ``?version=N``, or ``?label=staging``,
else the ``production`` label's, else the newest (the choice a ``/v1`` request naming
the prompt makes). Versions are never edited: ``POST .../versions`` adds the next one;
``PUT .../labels/{label}`` moves a label (how a version goes live). ``GET .../diff``
compares two versions. A bad field is a 422 naming it; nothing is saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Max, Prefetch, QuerySet
from django.http import Http404, HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from gateway.access import authorization
from gateway.base.errors import InvalidRequest
from gateway.features.prompts import reference, template, versions
from gateway.features.prompts.entries import PromptEntry, VersionEntry
from gateway.models import Prompt, PromptLabel, PromptVersion
from gateway.web.api.ids import row_id
from gateway.web.api.writes import ValidationErrors, check_fields
from gateway.web.http import first_or_404

PATH = "/prompts"
router = Router(tags=["prompts"])


class VersionOut(Schema):
    name: str
    version: int
    labels: list[str]
    messages: list[dict[str, str]]
    variables: list[str]
    model: str
    params: dict[str, Any]
    tools: list[dict[str, Any]]
    note: str
    created_by: str
    created_at: datetime


class PromptOut(Schema):
    name: str
    description: str
    latest: int | None  # the newest version's number
    labels: dict[str, int]  # label -> version number
    created_by: str | None
    updated_at: datetime


class VersionIn(Schema):
    messages: list[dict[str, Any]] | str  # [{role, content}] with {{variables}}, or a text
    model: str = ""  # the route it was written for (used when a request names none)
    params: dict[str, Any] = {}  # temperature, top_p, max_tokens, reasoning_effort
    tools: list[dict[str, Any]] = []
    note: str = ""  # what changed
    labels: list[str] = []  # labels to point at it (production, staging, ...)


class PromptIn(VersionIn):
    name: str
    description: str = ""


class LabelIn(Schema):
    version: int


class RenderIn(Schema):
    variables: dict[str, Any] = {}
    version: int | None = None
    label: str | None = None


def _labels_of(prompt: Prompt) -> dict[str, int]:
    """Label name -> version number (prefetched by ``_listed()``)."""
    return {label.name: label.version.number for label in prompt.labels.all()}


def _prompt_out(prompt: Prompt) -> dict[str, Any]:
    """A prompt of ``_listed()``: its latest version and labels came with it."""
    return {
        "name": prompt.name,
        "description": prompt.description,
        "latest": prompt.latest,
        "labels": _labels_of(prompt),
        "created_by": prompt.created_by.get_username() if prompt.created_by else None,
        "updated_at": prompt.updated_at,
    }


def _version_out(version: PromptVersion) -> dict[str, Any]:
    return {
        "name": version.prompt.name,
        "version": version.number,
        "labels": sorted(label.name for label in version.labels.all()),
        **{name: getattr(version, name) for name in versions.CONTENT},
        "created_by": version.created_by,
        "created_at": version.created_at,
    }


def _prompt(name: str, rows: QuerySet[Prompt] | None = None) -> Prompt:
    rows = Prompt.objects if rows is None else rows
    prompt: Prompt = first_or_404(rows.filter(name=name), f"no prompt named {name!r}")
    return prompt


def _may_change(request: HttpRequest, prompt: Prompt | None) -> None:
    decision = authorization.decide(request.actor, "prompt.change", prompt)
    if not decision:
        raise HttpError(403, decision.reason)


def _who(request: HttpRequest) -> str:
    return str(getattr(request.actor, "username", "") or "api")


def _user(request: HttpRequest) -> Any:
    user = getattr(request, "user", None)
    if getattr(request.actor, "via", "") == "key" or not getattr(user, "is_authenticated", False):
        from django.contrib.auth import get_user_model

        uid = getattr(request.actor, "user_id", None)
        return get_user_model().objects.filter(pk=uid).first() if uid else None
    return user


def _invalid(exc: versions.PromptError) -> Status[Any]:
    return Status(422, {"errors": {exc.field: [str(exc)]}})


@router.get("/", response=list[PromptOut])
def list_prompts(request: HttpRequest) -> list[dict[str, Any]]:
    return [_prompt_out(p) for p in _listed()]


def _listed() -> QuerySet[Prompt]:
    labels = Prefetch("labels", queryset=PromptLabel.objects.select_related("version"))
    prompts = Prompt.objects.select_related("created_by").prefetch_related(labels)
    return prompts.annotate(latest=Max("versions__number"))


@router.post("/", response={201: VersionOut, 422: ValidationErrors})
def create_prompt(request: HttpRequest, payload: PromptIn) -> Status[Any]:
    _may_change(request, None)
    check_fields(request, "prompts", payload.dict(exclude_unset=True))
    try:
        content = versions.draft(
            payload.messages, payload.model, payload.params, payload.tools, payload.note
        )
        _, version = versions.create(
            payload.name, content, user=_user(request), description=payload.description,
            labels=tuple(payload.labels),
        )  # fmt: skip
    except versions.PromptError as exc:
        return _invalid(exc)
    return Status(201, _version_out(version))


@router.get("/{name}", response=VersionOut)
def get_prompt(
    request: HttpRequest, name: str, version: int | None = None, label: str | None = None
) -> dict[str, Any]:
    """One version of the prompt: ``version``, else ``label``'s, else ``production``'s,
    else the newest."""
    prompt = _prompt(name, _listed())  # its labels' versions with it, not one query a label
    chosen = _entry(prompt).pick(version, label)
    if chosen is None:
        raise Http404(
            f"{name} has no {'version ' + str(version) if version else 'label ' + repr(label)}"
        )
    return _version_out(prompt.versions.get(number=chosen.number))


@router.delete("/{name}", response={204: None})
def delete_prompt(request: HttpRequest, name: str) -> Status[None]:
    prompt = _prompt(name)
    _may_change(request, prompt)
    prompt.delete()
    return Status(204, None)


@router.get("/{name}/versions", response=list[VersionOut])
def list_versions(request: HttpRequest, name: str) -> list[dict[str, Any]]:
    prompt = _prompt(name)
    return [_version_out(v) for v in prompt.versions.prefetch_related("labels").order_by("-number")]


@router.post("/{name}/versions", response={201: VersionOut, 422: ValidationErrors})
def add_version(request: HttpRequest, name: str, payload: VersionIn) -> Status[Any]:
    prompt = _prompt(name)
    _may_change(request, prompt)
    check_fields(request, "prompts", payload.dict(exclude_unset=True))
    try:
        content = versions.draft(
            payload.messages, payload.model, payload.params, payload.tools, payload.note
        )
        version = versions.add_version(
            prompt, content, by=_who(request), labels=tuple(payload.labels)
        )
    except versions.PromptError as exc:
        return _invalid(exc)
    return Status(201, _version_out(version))


@router.put("/{name}/labels/{label}", response={200: VersionOut, 422: ValidationErrors})
def move_label(request: HttpRequest, name: str, label: str, payload: LabelIn) -> Status[Any]:
    """Point ``label`` at ``version`` (created if new)."""
    prompt = _prompt(name)
    _may_change(request, prompt)
    check_fields(request, "prompts", payload.dict(exclude_unset=True))
    try:
        row = versions.move_label(prompt, label, payload.version, _who(request))
    except versions.PromptError as exc:
        return _invalid(exc)
    return Status(200, _version_out(row.version))


@router.delete("/{name}/labels/{label}", response={204: None})
def remove_label(request: HttpRequest, name: str, label: str) -> Status[None]:
    prompt = _prompt(name)
    _may_change(request, prompt)
    if not versions.remove_label(prompt, label):
        raise Http404(f"{name} has no label {label!r}")
    return Status(204, None)


class DiffLineOut(Schema):
    kind: str  # same | added | removed
    old: int | None
    new: int | None
    text: str


class DiffOut(Schema):
    name: str
    from_version: int
    to_version: int
    unified: str  # a unified diff of the two versions' text
    lines: list[DiffLineOut]


@router.get("/{name}/diff", response=DiffOut)
def diff(request: HttpRequest, name: str) -> dict[str, Any]:
    """``?from=1&to=2``: what changed from one version to the other (lines of both)."""
    prompt = _prompt(name)
    numbers = []
    for which in ("from", "to"):
        number = row_id(request.GET.get(which, ""))
        if number is None:
            raise HttpError(422, f"{which} must be a version number")
        numbers.append(number)
    found = {v.number: v for v in prompt.versions.filter(number__in=numbers)}
    missing = [n for n in numbers if n not in found]
    if missing:
        raise Http404(f"{name} has no version {missing[0]}")
    older, newer = found[numbers[0]], found[numbers[1]]
    return {
        "name": name,
        "from_version": older.number,
        "to_version": newer.number,
        "unified": versions.unified(older, newer),
        "lines": [vars_of(line) for line in versions.diff(older, newer)],
    }


def vars_of(line: versions.DiffLine) -> dict[str, Any]:
    return {"kind": line.kind, "old": line.old, "new": line.new, "text": line.text}


class RenderOut(Schema):
    name: str
    version: int
    messages: list[dict[str, str]]


@router.post("/{name}/render", response=RenderOut)
def render(request: HttpRequest, name: str, payload: RenderIn) -> dict[str, Any]:
    """The version's messages with ``variables`` filled in (Portkey's "render"), as a
    ``/v1`` request naming it would send them; a missing variable is a 422 naming it."""
    prompt = _prompt(name, _listed())
    entry = _entry(prompt)
    chosen = entry.pick(payload.version, payload.label)
    if chosen is None:
        raise Http404(f"{name} has no such version or label")
    ref = reference.Reference(name, chosen.number, None, payload.variables, "prompt_id")
    try:
        messages = reference.rendered(ref, chosen)
    except InvalidRequest as exc:
        raise HttpError(422, exc.message) from None
    except template.TemplateError as exc:
        raise HttpError(422, str(exc)) from None
    return {"name": name, "version": chosen.number, "messages": messages}


def _entry(prompt: Prompt) -> PromptEntry:
    """The prompt as a request reads it (so the API picks the version a request would);
    ``prompt`` of ``_listed()``, so its labels came with it."""
    found = {
        v.number: VersionEntry(
            v.number, tuple(v.messages), tuple(v.variables), v.model, v.params, tuple(v.tools)
        )
        for v in prompt.versions.all()
    }
    return PromptEntry(prompt.name, found, _labels_of(prompt))
