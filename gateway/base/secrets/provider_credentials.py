"""Every credential configured for a provider, and upstream errors scrubbed of them.

An upstream that echoes what it was sent ("invalid key sk-...", "bad header X-Org-Token:
...", a proxy quoting the URL it was asked for) must not hand the gateway's credentials
to its callers or to the request log. What counts as configured: the provider's secret,
its extra header values, the user info and credential query values of its base URL,
and the credential-named settings of the provider and its deployments (AWS keys,
service account JSON...). ``os.environ/NAME`` references are resolved as a call would.
Used on the error path (``providers.wire.hide_secret``) and by the redaction
(``telemetry.redaction``); never on a successful call. Here, below both, as it reads
only registry entries: the deployments' params come from the snapshot in force, which
sits above the providers, so its owner (``gateway.access.registry``) registers the
reader in ``hooks.provider_credential_sources``."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.base import hooks
from gateway.base.entries import ProviderEntry, Snapshot
from gateway.base.errors import GatewayError
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.base.secrets.url_secrets import secret_param, url_credentials

SHOWN_AS = "[provider secret]"
# Extra headers whose values are an API's own public words, not credentials: the API
# version and beta feature names, which callers send in the clear too. An upstream that
# quotes one ("unknown anthropic-version: 2026-13-01") tells the caller what was wrong;
# hiding it as a secret hid the cause and protected nothing.
OPEN_HEADERS = frozenset({"anthropic-version", "anthropic-beta", "openai-beta"})
MIN_LENGTH = 8  # shorter values cannot be told from ordinary words


def _resolved(value: str) -> str:
    """``value`` with an ``os.environ/NAME`` reference resolved; "" when it cannot be
    (unset, or refused): nothing to scrub then, and the scrub must never fail."""
    try:
        return resolve_secret(value)
    except Exception:
        return ""


def _credential_values(settings: Mapping[str, Any]) -> Iterable[str]:
    """The string values of credential-named settings (one level into objects, given
    as objects or as JSON text: a service account's ``private_key`` inside
    ``vertex_credentials``)."""
    for name, value in settings.items():
        if not secret_param(str(name)):
            continue
        if isinstance(value, str):
            value = _resolved(value)
            yield value
            if value.startswith("{"):  # a service account file's content, as text
                try:
                    value = json.loads(value)
                except ValueError:
                    continue
        if isinstance(value, Mapping):  # its credential-named fields, not "type" or emails
            yield from (
                _resolved(v)
                for k, v in value.items()
                if isinstance(v, str) and secret_param(str(k))
            )


def of_provider(provider: ProviderEntry, params: Mapping[str, Any] | None = None) -> list[str]:
    """Every credential configured for ``provider`` (and ``params``, a deployment's),
    resolved, at least ``MIN_LENGTH`` long, longest first (so a secret is replaced
    whole before a part of it)."""
    found = {_resolved(provider.secret or "")}
    found.update(
        _resolved(v) for k, v in provider.extra_headers.items() if k.lower() not in OPEN_HEADERS
    )
    found.update(url_credentials(_resolved(provider.base_url or "")))
    found.update(_credential_values(provider.settings or {}))
    if params:
        found.update(_credential_values(params))
    return sorted((s for s in found if len(s) >= MIN_LENGTH), key=len, reverse=True)


def deployment_params(provider: ProviderEntry) -> dict[str, Any]:
    """The credential-named params of every deployment on ``provider`` in the snapshot
    (an error is built where the deployment is not at hand; on the error path only), as
    the registered sources give them (``hooks.provider_credential_sources``)."""
    found: dict[str, Any] = {}
    for source in hooks.provider_credential_sources:
        found.update(source(provider))
    return found


def credential_params(snapshot: Snapshot, provider: ProviderEntry) -> dict[str, Any]:
    """The credential-named params of every deployment on ``provider`` in ``snapshot``,
    by ``name#deployment id``."""
    found: dict[str, Any] = {}
    for route in (*snapshot.routes.values(), *snapshot.patterns):
        for deployment in route.deployments:
            if deployment.provider.id != provider.id or not deployment.params:
                continue
            for name, value in deployment.params.items():
                if secret_param(str(name)):
                    found[f"{name}#{deployment.id}"] = value
    return found


def scrub(error: GatewayError, provider: ProviderEntry) -> None:
    """Replace every credential of ``provider`` and its deployments in ``error``'s
    message and detail."""
    text = f"{error.message}\n{error.detail or ''}"
    for secret in of_provider(provider, deployment_params(provider)):
        if secret not in text:
            continue
        error.message = error.message.replace(secret, SHOWN_AS)
        if error.detail:
            error.detail = error.detail.replace(secret, SHOWN_AS)
        text = f"{error.message}\n{error.detail or ''}"
    error.args = (error.message,)


def scrub_text(text: str, provider: ProviderEntry) -> str:
    """``text`` (an upstream's error event as it will be forwarded) without any
    credential of ``provider`` or its deployments."""
    for secret in of_provider(provider, deployment_params(provider)):
        if secret in text:
            text = text.replace(secret, SHOWN_AS)
    return text
