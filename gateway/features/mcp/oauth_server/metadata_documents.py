"""Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; what MCP
2026-07-28 prefers to dynamic registration): a client whose ``client_id`` is an https
URL is known by the JSON document at that URL, fetched when the client first shows up
and again once the copy is ``CACHE_SECONDS`` old, and accepted beside the clients that
registered themselves (``/oauth/register``). The authorization server's metadata says so
(``client_id_metadata_document_supported``).

The fetch is the gateway's guarded one (``gateway.core.url_fetch``: public addresses
only unless ``SWITCHYARD_URL_FETCH_ALLOW`` lists the host, each hop's addresses checked
and pinned against DNS rebinding, no proxy), at most ``MAX_BYTES`` within
``TIMEOUT_SECONDS``, JSON only.

Checked, else the sign-in is refused as ``invalid_client`` naming what was wrong (the
host only, never the document): the URL is https with a path, no fragment, no user or
password, no ``.``/``..`` segment; the document is a JSON object whose ``client_id`` is
the URL exactly; it asks for no client secret (a document is public: the client is a
public one, PKCE protects its codes); its ``redirect_uris`` are the same kind the
registration accepts (``client_rules.redirect_uri_problem``), and the authorization request's
redirect URI must be one of them (the client's ``check_redirect_uri``, as for any
client); grant and response types within the code and refresh grants.

A valid document is kept as a client row (``McpOAuthClient``, its ``client_id`` the
URL, ``metadata_fetched_at`` set), so the code, the tokens and their revocation work
as for a registered client; a document that changes is read into the same row."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

from django.utils import timezone

from gateway.core import url_fetch
from gateway.features.mcp.oauth_server import resources
from gateway.features.mcp.oauth_server.client_rules import GRANT_TYPES, redirect_uri_problem
from gateway.models.mcp import McpOAuthClient

CACHE_SECONDS = 3600  # a document is fetched again once its copy is this old
MAX_BYTES = 5 * 1024  # the draft's suggested most
TIMEOUT_SECONDS = 5.0
MAX_URL = 500  # McpOAuthClient.client_id
JSON_TYPES = frozenset({"application/json"})


class DocumentRefused(Exception):
    """Why a client's metadata document is not accepted; ``str()`` names the host only."""


def is_document_id(client_id: Any) -> bool:
    """Whether ``client_id`` names a metadata document (an https URL)."""
    return isinstance(client_id, str) and client_id.startswith("https://")


def url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a client id (the draft's rules), or None."""
    if len(url) > MAX_URL:
        return f"a client id URL has at most {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return "the client id is not a valid URL"
    if parts.scheme != "https" or not parts.hostname:
        return "a client id URL must be https with a host"
    if parts.username is not None or parts.password is not None:
        return "a client id URL has no user or password"
    if parts.fragment or "#" in url:
        return "a client id URL has no fragment"
    if parts.path in ("", "/"):
        return "a client id URL must have a path"
    segments = unquote(parts.path).split("/")
    if any(segment in (".", "..") for segment in segments):
        return "a client id URL has no . or .. path segment"
    return None


def document_problem(url: str, document: Any) -> str | None:
    """Why ``document`` does not describe the client ``url`` names, or None."""
    if not isinstance(document, dict):
        return "the metadata document is not a JSON object"
    if document.get("client_id") != url:
        return "the metadata document's client_id is not its URL"
    if "client_secret" in document or "client_secret_expires_at" in document:
        return "a metadata document has no client secret"
    if document.get("token_endpoint_auth_method", "none") != "none":
        return "the client must be public (token_endpoint_auth_method none)"
    uris = document.get("redirect_uris")
    if not isinstance(uris, list) or not uris:
        return "the metadata document names no redirect_uris"
    for uri in uris:
        problem = redirect_uri_problem(uri)
        if problem:
            return f"redirect_uris: {problem}"
    grants = document.get("grant_types") or list(GRANT_TYPES)
    if not isinstance(grants, list) or set(grants) - set(GRANT_TYPES):
        return f"grant_types: only {', '.join(GRANT_TYPES)}"
    responses = document.get("response_types") or ["code"]
    if not isinstance(responses, list) or set(responses) != {"code"}:
        return "response_types: only code"
    return None


async def fetch(url: str) -> dict[str, Any]:
    """The document at ``url``, checked; ``DocumentRefused`` otherwise."""
    import asyncio

    host = urlsplit(url).hostname or "the client id"
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            fetched = await url_fetch.fetch(url, JSON_TYPES, max_bytes=MAX_BYTES)
    except TimeoutError:
        raise DocumentRefused(f"{host} did not answer within {TIMEOUT_SECONDS:g} s") from None
    except url_fetch.FetchRefused as exc:
        raise DocumentRefused(f"the metadata document could not be fetched: {exc}") from None
    try:
        document = json.loads(fetched.data)
    except ValueError:
        raise DocumentRefused(f"{host} sent a metadata document that is not JSON") from None
    problem = document_problem(url, document)
    if problem:
        raise DocumentRefused(problem)
    return dict(document)


def _text(document: dict[str, Any], name: str, most: int) -> str:
    value = document.get(name)
    return str(value)[:most] if isinstance(value, str) else ""


def client(url: str) -> McpOAuthClient:
    """The client ``url`` names, from its document (fetched when not known or older
    than ``CACHE_SECONDS``). Sync (Authlib asks for clients synchronously): the fetch
    runs on its own loop. ``DocumentRefused`` when the URL or document is not valid."""
    from asgiref.sync import async_to_sync

    problem = url_problem(url)
    if problem:
        raise DocumentRefused(problem)
    row: McpOAuthClient | None = McpOAuthClient.objects.filter(client_id=url).first()
    now = timezone.now()
    fresh = now - timedelta(seconds=CACHE_SECONDS)
    if row is not None and row.metadata_fetched_at is not None and row.metadata_fetched_at > fresh:
        return row
    document = async_to_sync(fetch)(url)
    fields = {
        "client_name": _text(document, "client_name", 200),
        "client_uri": _text(document, "client_uri", 500),
        "redirect_uris": [str(u) for u in document["redirect_uris"]],
        "grant_types": list(document.get("grant_types") or ["authorization_code", "refresh_token"]),
        "response_types": ["code"],
        "scope": resources.SCOPE,
        "software_id": _text(document, "software_id", 200),
        "software_version": _text(document, "software_version", 100),
        "metadata_fetched_at": now,
    }
    if row is None:
        made: McpOAuthClient = McpOAuthClient.objects.update_or_create(
            client_id=url, defaults=fields
        )[0]
        return made
    McpOAuthClient.objects.filter(pk=row.pk).update(**fields)
    row.refresh_from_db()
    return row
