"""The sign-in settings page (owners): single sign-on set here (issuer, client, claim
maps; the client secret sealed, ``gateway.features.people.sso_settings``) or by the environment
(``SWITCHYARD_OIDC_*``), which wins field by field where set: such a field is shown
read-only with its variable. The page shows the callback URL to register at the
identity provider and the claim maps in force, and "Test discovery" fetches the
issuer's discovery document through the guarded fetch (``gateway.features.people.oidc_discovery``).
Password sign-in off and the break-glass accounts stay the operator's (environment)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from gateway.access import sso
from gateway.base.env import env_str
from gateway.base.secrets.secret_refs import ENV_REFERENCE
from gateway.features.people import oidc_discovery, sso_settings
from gateway.features.people.views.sso import callback_url
from gateway.models import SsoSettings, Team
from gateway.web.decorators import fields_refused, form_values, staff_required
from gateway.web.fields import SecretField
from gateway.web.http import HtmxHttpRequest
from gateway.web.saving import saved

TEMPLATE = "people/sign_in.html"
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


def _claim_and_map(what: str, example: str) -> tuple[forms.CharField, forms.CharField]:
    """The claim read for a role or teams, and the map of its values (one a line)."""
    claim = forms.CharField(
        required=False, max_length=200, label=f"{what.title()} claim", help_text="default: groups"
    )
    values = forms.CharField(
        required=False,
        max_length=4000,
        label=f"{what.title()} map",
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=f"claim value={what}, one a line: {example}",
    )
    return claim, values


class SsoSettingsForm(forms.Form):
    issuer = forms.CharField(
        required=False,
        max_length=500,
        label="Issuer URL",
        help_text="the provider's issuer; empty: single sign-on is off",
    )
    client_id = forms.CharField(required=False, max_length=500, label="Client ID")
    client_secret = SecretField(
        max_length=2000,
        label="Client secret",
        autocomplete="off",
        help_text="stored encrypted, never shown; empty: keep the one set",
    )
    clear_secret = forms.BooleanField(required=False, label="Remove the client secret")
    scopes = forms.CharField(
        required=False, max_length=500, label="Scopes", help_text="default: openid email profile"
    )
    label = forms.CharField(
        required=False,
        max_length=200,
        label="Button label",
        help_text="default: Sign in with <issuer host>",
    )
    role_claim, role_map = _claim_and_map("role", "llm-admins=admin")
    default_role = forms.CharField(
        required=False,
        max_length=20,
        label="Default role",
        help_text="when no value maps: owner, admin, editor, member, viewer or none "
        "(refused); default: member",
    )
    team_claim, team_map = _claim_and_map("team", "team-red=Red")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        env = sso.environment()
        for name, variable in sso.ENVIRONMENT.items():
            if name in env and name in self.fields:
                self.fields[name].disabled = True
                self.fields[name].help_text = f"set by {variable}: the environment wins"
        if "client_secret" in env:
            self.fields["clear_secret"].disabled = True


def _form(data: Any = None) -> SsoSettingsForm:
    if data is not None:
        return SsoSettingsForm(data)
    row = SsoSettings.objects.filter(pk=1).first()
    initial = sso_settings.shown(row) if row is not None else {}
    env = sso.environment()
    for name in sso.ENVIRONMENT:
        if name in env:
            initial[name] = shown_value(sso.ENVIRONMENT[name])
    return SsoSettingsForm(initial=initial)


def shown_value(name: str) -> str:
    """The variable as the page shows it: secrets masked unless an ``os.environ/NAME``
    reference (the name is no secret)."""
    raw = env_str(name).strip()
    if name in SECRET_SETTINGS and raw and not ENV_REFERENCE.match(raw):
        return "set (hidden)"
    return raw


def _context(request: HttpRequest, form: SsoSettingsForm | None = None) -> dict[str, Any]:
    cfg, error = sso.config_or_error()
    row = SsoSettings.objects.filter(pk=1).first()
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
        "form": form if form is not None else _form(),
        "secret_stored": bool(row and row.client_secret_ciphertext),
    }


@staff_required
def sign_in_settings(request: HtmxHttpRequest) -> HttpResponse:
    """GET: the page. POST: save the console's settings (every error at once)."""
    if request.method != "POST":
        return render(request, TEMPLATE, _context(request))
    form = _form(request.POST)
    if form.is_valid():
        sent = {k: v for k, v in form_values(form).items() if not form.fields[k].disabled}
        if refused := fields_refused(request, "sso", sent):
            return refused
        done = saved(
            request,
            form,
            lambda: sso_settings.save(sent),
            "Saved the single sign-on settings.",
            reverse("console:sign-in"),
        )
        if done is not None:
            return done
    return render(request, TEMPLATE, _context(request, form), status=422)


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
