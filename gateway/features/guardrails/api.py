"""Guardrails in the management API: any role lists and reads them (name, kind, modes,
settings); owners and admins create, change and delete them (``roles.API``).

Secrets in params are write-only, as MCP servers' tokens are: a literal ``api_key`` (or
any param whose name says it is a credential, nested ones included) is stored encrypted
and every answer shows it as a mask, ``os.environ/NAME`` references as they are; the
mask sent back in a PATCH keeps what is stored. A setting the guardrail's kind refuses
(an unknown kind or mode, a bad regex, a missing URL) is a 422 naming the field
(``params.patterns[0].pattern``); nothing is saved. A guardrail that keys, teams or
routes still name cannot be deleted (409 naming them). Saving goes through ``save``,
the one place guardrails are saved."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from gateway.features.guardrails import save as ops
from gateway.models import Guardrail
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields

PATH = "/guardrails"  # mounted at /api/guardrails (gateway.edge.api)
router = Router(tags=["guardrails"])


class GuardrailOut(Schema):
    id: int
    name: str
    kind: str  # LiteLLM's litellm_params.guardrail: litellm_content_filter, presidio, ...
    modes: list[str]  # pre_call, during_call, post_call, pre_mcp_call
    default_on: bool  # runs on every request without being attached
    monitor: bool  # journals what it would do, changes nothing
    unreachable_fallback: str  # fail_closed | fail_open
    timeout: float
    params: dict[str, Any]  # the kind's settings; literal secrets masked
    enabled: bool
    description: str
    from_config: bool  # saved by a config import
    created_at: datetime
    updated_at: datetime

    @staticmethod
    def resolve_params(obj: Guardrail) -> dict[str, Any]:
        return obj.params_display

    @staticmethod
    def resolve_modes(obj: Guardrail) -> list[str]:
        return [str(m) for m in obj.modes or []]


class GuardrailPatch(Schema):
    name: str | None = None
    kind: str | None = None
    modes: list[str] | str | None = None  # one mode or a list
    default_on: bool | None = None
    monitor: bool | None = None
    unreachable_fallback: str | None = None
    timeout: float | None = None
    params: dict[str, Any] | None = None  # the mask sent back keeps a stored secret
    enabled: bool | None = None
    description: str | None = None


class GuardrailIn(GuardrailPatch):
    name: str
    kind: str
    modes: list[str] | str


def _invalid(exc: ValidationError) -> Status[dict[str, dict[str, list[str]]]]:
    return Status(422, {"errors": saving.errors_by_field(exc)})


@router.get("/", response=list[GuardrailOut])
def list_guardrails(request: HttpRequest) -> list[Guardrail]:
    return list(Guardrail.objects.all())


@router.post("/", response={201: GuardrailOut, 422: ValidationErrors})
def create_guardrail(request: HttpRequest, payload: GuardrailIn) -> Status[Any]:
    check_fields(request, "guardrails", payload.dict(exclude_unset=True))
    try:
        return Status(201, ops.save_guardrail(None, payload.dict(exclude_unset=True)))
    except ValidationError as exc:
        return _invalid(exc)


@router.get("/{rowid:guardrail_id}", response=GuardrailOut)
def get_guardrail(request: HttpRequest, guardrail_id: int) -> Guardrail:
    row: Guardrail = get_object_or_404(Guardrail, pk=guardrail_id)
    return row


@router.patch("/{rowid:guardrail_id}", response={200: GuardrailOut, 422: ValidationErrors})
def update_guardrail(
    request: HttpRequest, guardrail_id: int, payload: GuardrailPatch
) -> Status[Any]:
    row = get_object_or_404(Guardrail, pk=guardrail_id)
    check_fields(request, "guardrails", payload.dict(exclude_unset=True), row)
    try:
        return Status(200, ops.save_guardrail(row, payload.dict(exclude_unset=True)))
    except ValidationError as exc:
        return _invalid(exc)


@router.delete("/{rowid:guardrail_id}", response={204: None, 409: ValidationErrors})
def delete_guardrail(request: HttpRequest, guardrail_id: int) -> Status[Any]:
    row = get_object_or_404(Guardrail, pk=guardrail_id)
    try:
        ops.delete_guardrail(row)
    except ValidationError as exc:
        return Status(409, {"errors": saving.errors_by_field(exc)})
    return Status(204, None)
