"""Saving single sign-on from the console (the one ``SsoSettings`` row, owners only):
every field checked at once and refused at save with the field and the reason, never at
the next sign-in; the client secret encrypted at rest and kept when the form leaves it
empty. A field the environment sets (``sso.ENVIRONMENT``) is not saved: the
environment wins there, and the page shows it read-only."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from gateway.access import sso
from gateway.base.secrets import crypto, secret_refs
from gateway.models import SsoSettings

TEXT_FIELDS = ("issuer", "client_id", "scopes", "label", "role_claim", "team_claim")
LOOPBACK = {"localhost", "127.0.0.1", "::1"}


def _issuer(value: str) -> str:
    if not value:
        return ""
    try:
        URLValidator(schemes=["https", "http"])(value)
    except ValidationError:
        raise ValueError("must be the provider's issuer URL (https://…)") from None
    parts = urlsplit(value)
    if parts.scheme == "http" and (parts.hostname or "") not in LOOPBACK:
        raise ValueError("must use https (plain http only for a provider on this machine)")
    if parts.query or parts.fragment:
        raise ValueError("an issuer URL has no query or fragment")
    return value.rstrip("/")


def _scopes(value: str) -> str:
    scopes = value.split()
    if scopes and "openid" not in scopes:
        raise ValueError("must include openid (single sign-on reads the ID token)")
    return " ".join(scopes)


def _role_map(value: str) -> dict[str, str]:
    pairs = sso.parse_pairs(value, "the role map")
    sso.check_role_map(pairs)
    return pairs


def _default_role(value: str) -> str:
    sso.check_default_role(value)
    return value.strip()


def _team_map(value: str) -> dict[str, str]:
    return sso.parse_pairs(value, "the team map")


def _client_id(value: str) -> str:
    _allowed_reference(value)
    return value


def _allowed_reference(value: str) -> None:
    """An ``os.environ/NAME`` an owner saves is judged by the operator's allow list at
    save (the gateway's own settings, ``SECRET_KEY`` among them, never)."""
    if reasons := secret_refs.refusals(value):
        raise ValueError("; ".join(reasons))


PARSERS: dict[str, Callable[[str], Any]] = {
    "issuer": _issuer,
    "client_id": _client_id,
    "scopes": _scopes,
    "label": str.strip,
    "role_claim": str.strip,
    "role_map": _role_map,
    "default_role": _default_role,
    "team_claim": str.strip,
    "team_map": _team_map,
}


def shown(row: Any) -> dict[str, str]:
    """The stored row as the form shows it: maps back to ``claim=value`` lines, never the
    secret."""
    values = {f: getattr(row, f) for f in TEXT_FIELDS}
    values["default_role"] = row.default_role
    for name in ("role_map", "team_map"):
        pairs = getattr(row, name) or {}
        values[name] = "\n".join(f"{claim}={value}" for claim, value in pairs.items())
    return values


def save(values: Mapping[str, Any]) -> Any:
    """Check every given field, then save the row; ``ValidationError`` naming each field
    at fault (nothing saved). ``client_secret``: a new secret ("" keeps the stored one);
    ``clear_secret``: remove it."""

    env = sso.environment()
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, parse in PARSERS.items():
        if name not in values or name in env:
            continue
        try:
            clean[name] = parse(str(values[name] or "").strip())
        except ValueError as exc:
            errors[name] = [str(exc)]
    with transaction.atomic():
        row = SsoSettings.objects.select_for_update().get_or_create(pk=1)[0]
        for name, value in clean.items():
            setattr(row, name, value)
        issuer = env.get("issuer") or row.issuer
        if issuer and not (env.get("client_id") or row.client_id) and "issuer" not in errors:
            errors.setdefault("client_id", []).append("an issuer needs the client id it gave you")
        if "client_secret" not in env:
            if values.get("clear_secret"):
                row.client_secret_ciphertext = ""
            elif secret := str(values.get("client_secret") or "").strip():
                try:
                    _allowed_reference(secret)
                except ValueError as exc:
                    errors.setdefault("client_secret", []).append(str(exc))
                row.client_secret_ciphertext = crypto.encrypt(secret)
        try:
            row.full_clean()
        except ValidationError as exc:
            for name, messages in exc.message_dict.items():
                errors.setdefault(name, []).extend(messages)
        if errors:
            transaction.set_rollback(True)
            raise ValidationError(errors)
        row.save()
    return row
