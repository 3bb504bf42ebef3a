"""API keys in the management API: list, create (the raw key is in the answer, once),
update limits, revoke. Only a hash of a key is ever stored.

Each caller sees and changes the keys its role allows (gateway/access/roles.py): owners
and admins every key, editors their teams' keys, members their own. What a key may hold
(team, owner, limits, routes, MCP grants, scopes) is the ``key.grant`` rule
(gateway/access/rules/keys.py), the same for the console's key form."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Router, Schema, Status
from ninja.errors import HttpError

from gateway.access import authorization, keys, roles
from gateway.edge.api.providers import ValidationErrors
from gateway.models import ApiKey
from gateway.telemetry import audit
from gateway.web import saving
from gateway.web.api.writes import check_fields
from gateway.web.http import first_or_404

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
    max_budget_per_user: Decimal | None  # each end user's budget per budget_period
    expires_at: datetime | None
    revoked_at: datetime | None
    created_at: datetime
    active: bool
    team: str | None
    user: str | None
    scopes: list[str]

    @staticmethod
    def resolve_team(obj: ApiKey) -> str | None:
        return obj.team.name if obj.team_id is not None else None

    @staticmethod
    def resolve_user(obj: ApiKey) -> str | None:
        return obj.user.get_username() if obj.user_id is not None else None

    @staticmethod
    def resolve_scopes(obj: ApiKey) -> list[str]:
        return (obj.scopes or "").split()

    mcp_allowed: list[str]  # MCP servers/tools: "server", "server__tool" or "*"; []: none
    mcp_effective: list[str]  # what it may use: mcp_allowed within its team's mcp_allowed
    a2a_allowed: list[str]  # A2A agents it may call at /a2a/<agent> (or "*"); []: none
    guardrails: list[str]  # guardrails (names) its requests run, beside the default ones
    tags: list[str]  # tags every request made with it carries (beside the request's own)
    enforce_tags: bool  # its requests may assert only its own tags (another: 403)
    alert_thresholds: list[int] | None  # budget alerts in percent; null: the default

    @staticmethod
    def resolve_tags(obj: ApiKey) -> list[str]:
        return [str(t) for t in obj.tags] if isinstance(obj.tags, list) else []

    @staticmethod
    def resolve_guardrails(obj: ApiKey) -> list[str]:
        return [str(n) for n in obj.guardrails] if isinstance(obj.guardrails, list) else []

    @staticmethod
    def resolve_mcp_effective(obj: ApiKey) -> list[str]:
        return keys.mcp_effective(obj)

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
    max_budget_per_user: Decimal | str | None = None
    expires_at: datetime | str | None = None
    team: str | int | None = None  # a team's name or id
    user: str | int | None = None  # a console user's username or id
    scopes: list[str] | None = None  # ["management"]: may call /api as its owner/admin user
    mcp_allowed: list[str] | None = None  # [] (or null): no MCP server
    a2a_allowed: list[str] | None = None  # agent names or "*"; [] (or null): no agent
    guardrails: list[str] | None = None  # existing guardrails' names ([] or null: none)
    tags: list[str] | str | None = None  # default tags ([] or null: none)
    # only its own tags may be asserted by its requests (owners and admins set it)
    enforce_tags: bool | None = None
    alert_thresholds: list[int] | str | None = None  # percent; null: the default; []: none


class KeyIn(KeyPatch):
    name: str
    budget_period: str = ApiKey.Period.MONTH  # type: ignore[assignment]  # (a str: TextChoices)


def _invalid(exc: ValidationError) -> Status[dict[str, dict[str, list[str]]]]:
    return Status(422, {"errors": saving.errors_by_field(exc)})


def _rows(request: HttpRequest) -> QuerySet:  # of ApiKey
    rows = ApiKey.objects.select_related("team", "user").prefetch_related("routes")
    return roles.visible_keys(request.actor, rows)


def _key(request: HttpRequest, key_id: int) -> ApiKey:
    key: ApiKey = first_or_404(_rows(request).filter(pk=key_id), f"no key {key_id}")
    return key


def _check_grant(request: HttpRequest, fields: dict[str, Any], key: ApiKey | None = None) -> None:
    """403 unless the caller may change ``key`` (if any), give the key what ``fields``
    make of it (``key.grant``: team, owner, scopes, limits, routes, MCP grants) and write
    each field (``field_rules``: below admin, guardrails and tags are added, never
    removed); 422 for
    a field that does not parse. A key minted for another user is audited as such."""
    actor: roles.Actor = request.actor
    if key is not None:
        decision = authorization.decide(actor, "key.change", key)
        if not decision:
            raise HttpError(403, decision.reason)
    grant = keys.proposed(keys.clean_fields(fields), key)
    decision = authorization.decide(actor, "key.grant", grant)
    if not decision:
        raise HttpError(403, decision.reason)
    check_fields(request, "keys", fields, key)  # e.g. guardrails and tags: below admin, add only


@router.get("/", response=list[KeyOut])
def list_keys(request: HttpRequest) -> list[ApiKey]:
    return list(_rows(request))


@router.post("/", response={201: KeyCreated, 422: ValidationErrors})
def create_key(request: HttpRequest, payload: KeyIn) -> Status[Any]:
    fields = keys.defaults_for(request.actor, payload.dict(exclude_unset=True))
    try:
        _check_grant(request, fields)
        created = keys.create_key(**fields, minted_by=request.actor.holder_id)
    except ValidationError as exc:
        return _invalid(exc)
    audit.key_minted(request.actor, created.key)
    key = _key(request, created.key.pk)
    key.key = created.raw  # for this answer only
    return Status(201, key)


@router.get("/{rowid:key_id}", response=KeyOut)
def get_key(request: HttpRequest, key_id: int) -> ApiKey:
    return _key(request, key_id)


@router.patch("/{rowid:key_id}", response={200: KeyOut, 422: ValidationErrors})
def update_key(request: HttpRequest, key_id: int, payload: KeyPatch) -> Status[Any]:
    key = _key(request, key_id)
    fields = payload.dict(exclude_unset=True)
    try:
        _check_grant(request, fields, key)
        keys.update_key(key, **fields)
    except ValidationError as exc:
        return _invalid(exc)
    return Status(200, _key(request, key_id))


@router.post("/{rowid:key_id}/revoke", response=KeyOut)
def revoke_key(request: HttpRequest, key_id: int) -> ApiKey:
    key = _key(request, key_id)
    decision = authorization.decide(request.actor, "key.change", key)
    if not decision:
        raise HttpError(403, decision.reason)
    keys.revoke_key(key)
    return _key(request, key_id)


@router.delete("/{rowid:key_id}", response=KeyOut)
def delete_key(request: HttpRequest, key_id: int) -> ApiKey:
    """Revokes the key; the row stays so the request log keeps its name."""
    return revoke_key(request, key_id)
