"""API keys in the management API: list, create (the raw key is in the answer, once),
update limits, revoke. Only a hash of a key is ever stored."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from .. import admin_ops, keys
from ..models import ApiKey
from .providers import ValidationErrors

router = Router(tags=["keys"])


class KeyOut(Schema):
    id: int
    name: str
    prefix: str
    routes: list[str]
    rpm_limit: int | None
    tpm_limit: int | None
    budget_usd: Decimal | None
    budget_period: str
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    active: bool
    mcp_allowed: list[str]  # MCP servers/tools: "server", "server__tool" or "*"; []: none

    @staticmethod
    def resolve_routes(obj: ApiKey) -> list[str]:
        return sorted(r.name for r in obj.routes.all())

    @staticmethod
    def resolve_active(obj: ApiKey) -> bool:
        return obj.is_active


class KeyCreated(KeyOut):
    key: str  # the raw key: shown in this answer only


class KeyPatch(Schema):
    """Limits accept a number, or null to remove the limit; routes [] allows all."""

    name: str | None = None
    routes: list[str] | None = None
    rpm_limit: int | str | None = None
    tpm_limit: int | str | None = None
    budget_usd: Decimal | str | None = None
    budget_period: str | None = None
    expires_at: datetime | str | None = None
    mcp_allowed: list[str] | None = None  # [] (or null): no MCP server


class KeyIn(KeyPatch):
    name: str
    budget_period: str = ApiKey.Period.MONTH


def _invalid(exc: ValidationError) -> tuple[int, dict]:
    return Status(422, {"errors": admin_ops.errors_by_field(exc)})


def _key(key_id: int) -> ApiKey:
    return get_object_or_404(ApiKey.objects.prefetch_related("routes"), pk=key_id)


@router.get("/", response=list[KeyOut])
def list_keys(request):
    return list(ApiKey.objects.prefetch_related("routes"))


@router.post("/", response={201: KeyCreated, 422: ValidationErrors})
def create_key(request, payload: KeyIn):
    try:
        created = keys.create_key(**payload.dict())
    except ValidationError as exc:
        return _invalid(exc)
    key = _key(created.key.pk)
    key.key = created.raw  # type: ignore[attr-defined]  # for this answer only
    return Status(201, key)


@router.get("/{key_id}", response=KeyOut)
def get_key(request, key_id: int):
    return _key(key_id)


@router.patch("/{key_id}", response={200: KeyOut, 422: ValidationErrors})
def update_key(request, key_id: int, payload: KeyPatch):
    key = _key(key_id)
    try:
        keys.update_key(key, **payload.dict(exclude_unset=True))
    except ValidationError as exc:
        return _invalid(exc)
    return Status(200, _key(key_id))


@router.post("/{key_id}/revoke", response=KeyOut)
def revoke_key(request, key_id: int):
    keys.revoke_key(_key(key_id))
    return _key(key_id)


@router.delete("/{key_id}", response=KeyOut)
def delete_key(request, key_id: int):
    """Revokes the key; the row stays so the request log keeps its name."""
    return revoke_key(request, key_id)
