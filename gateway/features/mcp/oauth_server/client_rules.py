"""What a public client of the authorization server may be, whether it registered
itself (``server.Registration``) or is known by its metadata document
(``metadata_documents``): its grant types, and the redirect URIs it may name. No
Authlib here, so both read it without importing each other."""

from __future__ import annotations

from typing import Any

from gateway.models.mcp import LOOPBACK_HOSTS

GRANT_TYPES = ("authorization_code", "refresh_token")
UNSAFE_SCHEMES = frozenset({"javascript", "data", "file", "vbscript", "about", "blob", "ftp"})


def redirect_uri_problem(uri: Any) -> str | None:
    """Why ``uri`` may not be registered: https, a loopback http (RFC 8252 7.3) or a
    native app's own scheme (RFC 8252 7.1); never a fragment."""
    from urllib.parse import urlsplit

    if not isinstance(uri, str) or not uri or len(uri) > 1000:
        return "a redirect URI must be a string of at most 1000 characters"
    parts = urlsplit(uri)
    scheme = parts.scheme.lower()
    if parts.fragment:
        return f"{uri}: a redirect URI has no fragment"
    if scheme == "https" and parts.hostname:
        return None
    if scheme == "http":
        if (parts.hostname or "") in LOOPBACK_HOSTS:
            return None
        return f"{uri}: plain http only to a loopback address (127.0.0.1, [::1], localhost)"
    if scheme not in UNSAFE_SCHEMES and ("." in scheme or scheme in ("cursor", "vscode")):
        return None
    return f"{uri}: not an https, loopback http or private-use (reverse domain) URI"
