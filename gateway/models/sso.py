"""Single sign-on as an owner sets it in the console (the one ``SsoSettings`` row). The
environment (``SWITCHYARD_OIDC_*``) wins field by field where it is set
(``gateway.access.sso``); password sign-in off (``SWITCHYARD_SSO_ONLY``) and the
break-glass accounts stay the operator's, so no console role can lock every password
out."""

from __future__ import annotations

from django.db import models

from gateway.models import SettingsRow


def _no_pairs() -> dict[str, str]:
    return {}


class SsoSettings(SettingsRow):
    """The identity provider and its claim maps. One row (pk 1); the client secret is
    encrypted at rest (``client_secret_ciphertext``) and never shown."""

    issuer = models.CharField(max_length=500, blank=True, default="")
    client_id = models.CharField(max_length=500, blank=True, default="")
    client_secret_ciphertext = models.TextField(blank=True, default="")
    scopes = models.CharField(max_length=500, blank=True, default="")
    label = models.CharField(max_length=200, blank=True, default="")
    role_claim = models.CharField(max_length=200, blank=True, default="")
    role_map = models.JSONField(default=_no_pairs, blank=True)  # claim value -> role
    default_role = models.CharField(max_length=20, blank=True, default="")  # "": member
    team_claim = models.CharField(max_length=200, blank=True, default="")
    team_map = models.JSONField(default=_no_pairs, blank=True)  # claim value -> team

    class Meta:
        app_label = "gateway"
        verbose_name_plural = "single sign-on settings"
