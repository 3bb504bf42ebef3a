"""What every HTTP adapter shares on the wire: reading Retry-After, mapping transport
failures, and resolving the provider's secret and extra headers at call time."""

from __future__ import annotations

import contextvars
import dataclasses
import email.utils
import logging
import re
import time
from urllib.parse import urlsplit, urlunsplit

import httpx

from gateway.base.entries import ProviderEntry
from gateway.base.errors import (
    ConfigurationError,
    GatewayError,
    MissingSecret,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.base.secrets import provider_credentials
from gateway.base.secrets.secret_refs import resolve_secret
from gateway.codecs.base import WireEvent

log = logging.getLogger(__name__)

# The id of the request being served in this task (set by ``service.handle``), so that an
# error raised deep in an adapter can name it to the caller.
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "switchyard_request_id", default=""
)


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


def transport_error(exc: Exception, provider: ProviderEntry, url: str) -> UpstreamError:
    """A timeout or connection failure talking to ``provider`` as an UpstreamError. The
    caller learns the provider's registry name and the request id; the URL (which may
    hold credentials or internal host names) and httpx's message (which names host and
    port) go only to the server log and the journal, as ``detail``."""
    rid = current_request_id.get()
    suffix = f" (request id {rid})" if rid else ""
    what = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):
        error: UpstreamError = UpstreamTimeout(
            f"upstream provider {provider.name!r} timed out ({what}){suffix}"
        )
    else:
        error = UpstreamConnectionError(
            f"could not reach upstream provider {provider.name!r} ({what}){suffix}"
        )
    error.detail = f"{error.message}: {what} on {safe_url(url)}: {_URL.sub(_safe_match, str(exc))}"
    log.warning("%s", error.detail)
    return error


_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")  # a URL a message quotes


def _safe_match(match: re.Match[str]) -> str:
    return safe_url(match.group(0))


def safe_url(url: str) -> str:
    """``url`` without user info and query values (where some upstreams take keys)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(unparsable URL)"
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(f"{item.partition('=')[0]}=…" for item in parts.query.split("&") if item)
    return urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def credentials(provider: ProviderEntry) -> tuple[str, dict[str, str]]:
    """The provider's secret and extra headers with ``os.environ/NAME`` references
    resolved now; an unset variable is a ConfigurationError naming it (never the secret):
    routing moves on at once, without connecting anywhere."""
    try:
        secret = resolve_secret(provider.secret)
    except MissingSecret as exc:
        raise ConfigurationError(f"provider {provider.name!r}: {exc}") from None
    return secret, extra_headers(provider)


def extra_headers(provider: ProviderEntry) -> dict[str, str]:
    """The provider's extra headers with ``os.environ/NAME`` references resolved now (an
    unset variable: a ConfigurationError naming it, as for ``credentials``)."""
    try:
        return {k: resolve_secret(v) for k, v in provider.extra_headers.items()}
    except MissingSecret as exc:
        raise ConfigurationError(f"provider {provider.name!r}: {exc}") from None


def hide_secret(error: GatewayError, provider: ProviderEntry) -> None:
    """Take every credential configured for ``provider`` out of an upstream error the
    caller will read (``base.secrets.provider_credentials``): an upstream that echoes what it was sent
    must not hand it to the gateway's callers. On the error path only."""
    provider_credentials.scrub(error, provider)


def hide_secret_in_event(event: WireEvent, provider: ProviderEntry) -> WireEvent:
    """An upstream's error event, forwarded as sent by a passthrough, without the
    credentials ``hide_secret`` takes out of errors (the event itself when it has none)."""
    text = provider_credentials.scrub_text(event.text, provider)
    return event if text == event.text else dataclasses.replace(event, text=text)


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
