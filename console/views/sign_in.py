"""The sign-in settings page (owners): single sign-on as the environment configures it.
Settings stay in the environment (``SWITCHYARD_OIDC_*``, read once per process by
``gateway.access.sso``); this page shows them, the client secret masked, with the
callback URL to register at the identity provider and the claim maps in force, and
"Test discovery" fetches the issuer's discovery document through the guarded fetch
(``gateway.ops.oidc_discovery``)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateway.access import sso
from gateway.base.env import env_str
from gateway.base.secrets.secret_refs import ENV_REFERENCE
from gateway.models import Team
from gateway.ops import oidc_discovery
from gateway.web.decorators import staff_required

TEMPLATE = "console/sign_in.html"
# (variable, what it sets, default shown when unset)
SETTINGS = (
    ("SWITCHYARD_OIDC_ISSUER", "issuer URL (unset: single sign-on is off)", ""),
    ("SWITCHYARD_OIDC_CLIENT_ID", "client id", ""),
    ("SWITCHYARD_OIDC_CLIENT_SECRET", "client secret", ""),
    ("SWITCHYARD_OIDC_SCOPES", "scopes asked for", "openid email profile"),
    ("SWITCHYARD_OIDC_LABEL", "the sign-in button", "Sign in with <issuer host>"),
    ("SWITCHYARD_OIDC_ROLE_CLAIM", "claim read for the role", "groups"),
    ("SWITCHYARD_OIDC_ROLE_MAP", "claim value = role", ""),
    ("SWITCHYARD_OIDC_DEFAULT_ROLE", "role when no value maps (none: refused)", "member"),
    ("SWITCHYARD_OIDC_TEAM_CLAIM", "claim read for teams", "groups"),
    ("SWITCHYARD_OIDC_TEAM_MAP", "claim value = team", ""),
    ("SWITCHYARD_OIDC_REDIRECT_URI", "callback URL, when a proxy changes the address", ""),
    ("SWITCHYARD_SSO_ONLY", "password sign-in off but for break-glass accounts", "off"),
    ("SWITCHYARD_SSO_BREAK_GLASS", "accounts that keep password sign-in", ""),
)
SECRET_SETTINGS = frozenset({"SWITCHYARD_OIDC_CLIENT_SECRET"})


def shown_value(name: str) -> str:
    """The variable as the page shows it: secrets masked unless an ``os.environ/NAME``
    reference (the name is no secret)."""
    raw = env_str(name).strip()
    if name in SECRET_SETTINGS and raw and not ENV_REFERENCE.match(raw):
        return "set (hidden)"
    return raw


def callback_url(request: HttpRequest) -> str:
    """The redirect URI to register at the provider: what ``console.views.sso`` sends."""
    return env_str("SWITCHYARD_OIDC_REDIRECT_URI").strip() or request.build_absolute_uri(
        reverse("console:sso-callback")
    )


def _context(request: HttpRequest) -> dict[str, Any]:
    cfg, error = sso.config_or_error()
    teams = set(Team.objects.values_list("name", flat=True))
    rows = [
        {"name": n, "what": what, "value": shown_value(n), "default": default}
        for n, what, default in SETTINGS
    ]
    return {
        "cfg": cfg,
        "error": error,
        "rows": rows,
        "callback": callback_url(request),
        "role_map": sorted(cfg.role_map.items()) if cfg else [],
        "team_map": [(claim, team, team in teams) for claim, team in sorted(cfg.team_map.items())]
        if cfg
        else [],
        "sso_only": sso.sso_only(),
        "break_glass": sorted(sso.break_glass_accounts()),
    }


@staff_required
def sign_in_settings(request: HttpRequest) -> HttpResponse:
    return render(request, TEMPLATE, _context(request))


@staff_required
@require_POST
def sign_in_discovery(request: HttpRequest) -> HttpResponse:
    """Fetch the configured issuer's discovery document and show what it says."""
    cfg, error = sso.config_or_error()
    result = async_to_sync(oidc_discovery.check)(cfg) if cfg is not None else None
    context = {**_context(request), "result": result}
    if getattr(request, "htmx", False):
        return render(request, f"{TEMPLATE}#discovery", context)
    return render(request, TEMPLATE, context)
