"""What every HTTP adapter shares on the wire: reading Retry-After, mapping transport
failures, and resolving the provider's secret and extra headers at call time."""

from __future__ import annotations

import email.utils
import time

import httpx

from ..errors import ConfigurationError, UpstreamConnectionError, UpstreamError, UpstreamTimeout
from ..models import MissingSecret, resolve_secret
from ..registry import ProviderEntry


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the upstream asks us to wait: ``retry-after-ms``, or ``Retry-After`` as
    seconds or an HTTP date."""
    headers = response.headers
    if ms := headers.get("retry-after-ms"):
        try:
            return max(float(ms) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - time.time(), 0.0)


def transport_error(exc: Exception, where: str) -> UpstreamError:
    """A timeout or connection failure talking to ``where`` as an UpstreamError."""
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout(f"upstream {where} timed out ({type(exc).__name__})")
    return UpstreamConnectionError(f"could not reach upstream {where}: {type(exc).__name__}")


def credentials(provider: ProviderEntry) -> tuple[str, dict[str, str]]:
    """The provider's secret and extra headers with ``os.environ/NAME`` references
    resolved now; an unset variable is a ConfigurationError naming it (never the secret):
    routing moves on at once, without connecting anywhere."""
    try:
        secret = resolve_secret(provider.secret)
        extra = {k: resolve_secret(v) for k, v in provider.extra_headers.items()}
    except MissingSecret as exc:
        raise ConfigurationError(f"provider {provider.name!r}: {exc}") from None
    return secret, extra


def setting(provider: ProviderEntry, value: str, what: str) -> str:
    """A provider setting that may be an ``os.environ/NAME`` reference (base URL, api
    version), resolved now; an unset variable is a ConfigurationError naming it, like ``credentials``."""
    try:
        return resolve_secret(value)
    except MissingSecret as exc:
        raise ConfigurationError(f"provider {provider.name!r}: {what}: {exc}") from None


def base_url(provider: ProviderEntry) -> str:
    """The provider's base URL (resolved when it is a reference), without a trailing /."""
    url = provider.base_url
    if url.startswith("os.environ/"):  # checked here: no extra call on the common path
        url = setting(provider, url, "base URL")
    return url.rstrip("/")
