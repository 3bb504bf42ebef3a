"""Host credentials (a cloud SDK's ambient credentials: Google's application-default
credentials or a key file on this host, AWS's default chain or a named profile) are the
operator's: they are sent only to the provider's official endpoints, never to a base URL
an admin chose, unless the operator sets ``SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT=1``.
Credentials given in the provider itself (a key, a service-account JSON) are the admin's
own and go wherever the provider points; so do the host's own for a provider the
operator's config file wrote (``from_operator``: the operator owns the host and chose the
endpoint). Each adapter says what its official hosts are (``official_host``); this module
only words the refusal."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from django.conf import settings

SETTING = "SWITCHYARD_AMBIENT_CREDENTIALS_ANY_ENDPOINT"


def any_endpoint() -> bool:
    return bool(getattr(settings, SETTING, False))


def host_of(url: str) -> str | None:
    """The host of an https URL (None: not https, so never official)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme != "https" or not parts.hostname:
        return None
    return parts.hostname.lower().rstrip(".")


def on_host(url: str, official: re.Pattern[str]) -> bool:
    """``url`` is https on a host the adapter's ``official`` pattern matches whole."""
    host = host_of(url)
    return host is not None and bool(official.match(host))


def refusal(what: str, url: str, official: bool) -> str | None:
    """Why ``what`` (the host's credentials, in words) may not go to ``url``, or None.
    The message names the setting and the host, never a credential."""
    if official or any_endpoint():
        return None
    host = urlsplit(url).hostname or "?"
    return (
        f"{what} are the operator's and go only to the provider's official endpoints, "
        f"not {host}: give credentials in the provider, or the operator sets {SETTING}=1"
    )
