"""Single sign-on in the management API (#66), as the console's sign-in settings page:
``GET /api/sign-in`` what is in force (each field with where it comes from: the
environment, which wins, or the console's row; the client secret never shown) and
``PATCH /api/sign-in`` the console's settings (owners: field table ``sso``; every
refused field named at once, nothing saved). Password sign-in off and the break-glass
accounts are the environment's only."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.http import HttpRequest
from ninja import Router, Schema, Status

from gateway.access import sso
from gateway.base.entries import same_named
from gateway.features.people import sso_settings
from gateway.models import SsoSettings
from gateway.web import saving
from gateway.web.api.writes import ValidationErrors, check_fields

router = Router(tags=["users"])


class SignInOut(Schema):
    enabled: bool  # single sign-on is on and usable
    error: str  # why it is unusable ("" when it is not)
    issuer: str
    client_id: str
    client_secret_set: bool  # never the secret
    scopes: str
    label: str
    role_claim: str
    role_map: dict[str, str]
    default_role: str
    team_claim: str
    team_map: dict[str, str]
    from_environment: list[str]  # the fields a SWITCHYARD_OIDC_* variable sets (they win)
    sso_only: bool  # SWITCHYARD_SSO_ONLY (the environment's)


class SignInPatch(Schema):
    issuer: str | None = None  # "" turns single sign-on off (unless the environment sets it)
    client_id: str | None = None
    client_secret: str | None = None  # a new secret; use clear_secret to remove it
    clear_secret: bool | None = None
    scopes: str | None = None
    label: str | None = None
    role_claim: str | None = None
    role_map: dict[str, str] | str | None = None  # {"llm-admins": "admin"} or "a=admin,b=viewer"
    default_role: str | None = None
    team_claim: str | None = None
    team_map: dict[str, str] | str | None = None


def _pairs_text(value: Any) -> Any:
    if isinstance(value, dict):
        return ",".join(f"{claim}={to}" for claim, to in value.items())
    return value


def _shown() -> dict[str, Any]:
    row = SsoSettings.objects.filter(pk=1).first()
    stored = sso_settings.shown(row) if row is not None else {}
    env = sso.environment()
    try:
        cfg, error = sso.config(), ""
    except ImproperlyConfigured as exc:
        cfg, error = None, str(exc)
    secret_set = "client_secret" in env or bool(row and row.client_secret_ciphertext)
    shown: dict[str, Any] = {
        "enabled": cfg is not None,
        "error": error,
        "client_secret_set": secret_set,
        "from_environment": sorted(env),
        "sso_only": sso.sso_only(),
    }
    if cfg is not None:
        shown.update(
            **same_named(cfg, "issuer client_id scopes label role_claim team_claim"),
            role_map=dict(cfg.role_map),
            default_role=cfg.default_role or "none",
            team_map=dict(cfg.team_map),
        )
        return shown
    for name in ("issuer", "client_id", "scopes", "label", "role_claim", "team_claim"):
        shown[name] = env.get(name, stored.get(name, ""))
    shown["default_role"] = env.get("default_role", stored.get("default_role", ""))
    shown["role_map"] = dict(row.role_map) if row is not None else {}
    shown["team_map"] = dict(row.team_map) if row is not None else {}
    return shown


@router.get("/", response=SignInOut)
def get_sign_in(request: HttpRequest) -> dict[str, Any]:
    return _shown()


@router.patch("/", response={200: SignInOut, 422: ValidationErrors})
def update_sign_in(request: HttpRequest, payload: SignInPatch) -> Status[Any]:
    given = payload.dict(exclude_unset=True)
    check_fields(request, "sso", given)
    values = {k: _pairs_text(v) for k, v in given.items()}
    try:
        sso_settings.save(values)
    except ValidationError as exc:
        return Status(422, {"errors": saving.errors_by_field(exc)})
    return Status(200, _shown())
