"""The alert settings (the one ``AlertSettings`` row): whether alerts run, the webhook
URL (encrypted at rest; shown as its scheme and host and the last four characters), the
email recipients (``gateway.features.alerts.email``), and the default thresholds of every key,
team and user without their own."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from gateway.access.alert_thresholds import parse_thresholds
from gateway.base.secrets import crypto
from gateway.features.alerts import email, webhook
from gateway.models.alerts import DEFAULT_THRESHOLDS, AlertSettings

UNCHANGED = object()  # "keep the stored webhook" in ``save``


@dataclass(frozen=True, slots=True)
class Settings:
    enabled: bool
    webhook_url: str  # "" when none
    default_thresholds: list[int]
    email_recipients: tuple[str, ...] = ()

    @property
    def delivers(self) -> bool:
        """Whether an alert goes anywhere (the webhook, email) beside the console."""
        return bool(self.webhook_url or self.email_recipients)

    @property
    def webhook_shown(self) -> str:
        return masked(self.webhook_url)


def masked(url: str) -> str:
    """``https://hooks.slack.com/…wxyz``: where it goes, never the path (the secret)."""
    if not url:
        return ""
    scheme, _, rest = url.partition("://")
    host = rest.split("/", 1)[0].rpartition("@")[2]
    return (
        f"{scheme}://{host}/…{url[-4:]}"
        if len(url) > len(f"{scheme}://{host}/") + 8
        else f"{scheme}://{host}/…"
    )


def row() -> AlertSettings:
    found: AlertSettings = AlertSettings.objects.get_or_create(pk=1)[0]
    return found


def load() -> Settings:
    stored = AlertSettings.objects.filter(pk=1).first()
    if stored is None:
        return Settings(True, "", list(DEFAULT_THRESHOLDS))
    url = crypto.decrypt(stored.webhook_ciphertext) if stored.webhook_ciphertext else ""
    defaults = stored.default_thresholds
    emails = stored.email_recipients if isinstance(stored.email_recipients, list) else []
    return Settings(
        stored.enabled,
        url,
        list(defaults) if isinstance(defaults, list) else list(DEFAULT_THRESHOLDS),
        tuple(str(e) for e in emails),
    )


def save(
    *,
    enabled: bool | None = None,
    webhook_url: object = UNCHANGED,
    thresholds: object = UNCHANGED,
    email_recipients: object = UNCHANGED,
) -> Settings:
    """Change the given settings; validate all first (one ``ValidationError`` naming each
    bad field), then save. ``webhook_url`` "" or None removes the webhook;
    ``email_recipients`` "", None or [] stops the emails."""

    errors: dict[str, list[str]] = {}
    stored = row()
    if webhook_url is not UNCHANGED:
        url = str(webhook_url or "").strip()
        try:
            if url:
                webhook.check_form(url)
        except webhook.Refused as exc:
            errors["webhook_url"] = [str(exc)]
        else:
            stored.webhook_ciphertext = crypto.encrypt(url) if url else ""
    if thresholds is not UNCHANGED:
        try:
            parsed = parse_thresholds(thresholds)
        except ValueError as exc:
            errors["default_thresholds"] = [str(exc)]
        else:
            stored.default_thresholds = parsed if parsed is not None else list(DEFAULT_THRESHOLDS)
    if email_recipients is not UNCHANGED:
        try:
            stored.email_recipients = email.parse_recipients(email_recipients)
        except ValueError as exc:
            errors["email_recipients"] = [str(exc)]
    if errors:
        raise ValidationError(errors)
    if enabled is not None:
        stored.enabled = bool(enabled)
    stored.save()
    return load()
