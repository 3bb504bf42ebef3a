"""OAuth access tokens for Google Cloud (Vertex AI) from a service account, through
``google-auth``: one cached token per credentials, refreshed a few minutes before it
expires.

The hot path only reads the cache (a dict lookup and a clock comparison). Loading a key
file and refreshing are blocking I/O: they run in a worker thread, never on the event
loop, one refresh per credentials at a time (a thread lock, so concurrent requests wait
for the same new token instead of each fetching one). Any failure to load or refresh
credentials is a ``ConfigurationError``: routing moves on without retrying this
deployment, and the message never carries key material.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from gateway.base.errors import ConfigurationError

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
REFRESH_MARGIN = dt.timedelta(minutes=5)
TOKEN_TIMEOUT = 20.0  # seconds for one call to the token endpoint


@dataclass
class _Entry:
    lock: threading.Lock = field(default_factory=threading.Lock)
    credentials: Any = None
    project_id: str | None = None
    token: str | None = None
    expiry: dt.datetime | None = None  # naive UTC, as google-auth keeps it

    def fresh(self) -> bool:
        if not self.token:
            return False
        if self.expiry is None:  # a token without expiry does not expire
            return True
        return self.expiry - REFRESH_MARGIN > _utcnow()


_CACHE: dict[str, _Entry] = {}
_CACHE_LOCK = threading.Lock()
_transport: Any = None


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _key(source: str | None) -> str:
    return hashlib.sha256((source or "<application-default>").encode()).hexdigest()


def _request() -> Any:
    """One pooled ``requests`` transport per process, with a bounded timeout."""
    global _transport
    if _transport is None:
        import google.auth.transport.requests
        import requests

        inner = google.auth.transport.requests.Request(session=requests.Session())

        def call(
            url: str, method: str = "GET", body: Any = None, headers: Any = None, **kw: Any
        ) -> Any:
            kw.setdefault("timeout", TOKEN_TIMEOUT)
            return inner(url, method=method, body=body, headers=headers, **kw)

        _transport = call
    return _transport


def _load(source: str | None) -> tuple[Any, str | None]:
    """Credentials from service-account JSON text, a path to such a file, or (None) the
    application default credentials (GOOGLE_APPLICATION_CREDENTIALS, metadata server)."""
    import google.auth
    from google.oauth2 import service_account

    if source is None:
        credentials, project = google.auth.default(scopes=list(SCOPES))
        return credentials, project
    text = source.strip()
    if not text.startswith("{"):
        with open(text, encoding="utf-8") as handle:
            text = handle.read()
    try:
        info = json.loads(text)
    except json.JSONDecodeError:
        raise ValueError("the service-account credentials are not valid JSON") from None
    if not isinstance(info, dict):
        raise ValueError("the service-account credentials are not a JSON object")
    credentials = service_account.Credentials.from_service_account_info(  # type: ignore[no-untyped-call]
        info, scopes=list(SCOPES)
    )
    return credentials, info.get("project_id")


def _describe(exc: BaseException) -> str:
    """A failure in words, without key material: google-auth's refresh errors carry the
    token endpoint's answer (no secrets); other errors are named by type."""
    import google.auth.exceptions

    if isinstance(exc, FileNotFoundError):
        return "the credentials file does not exist"
    if isinstance(exc, OSError):
        return f"the credentials file cannot be read ({type(exc).__name__})"
    if isinstance(exc, google.auth.exceptions.GoogleAuthError | ValueError):
        first = exc.args[0] if exc.args else type(exc).__name__
        return str(first)[:300]
    return type(exc).__name__


def _refresh(key: str, source: str | None) -> tuple[str, str | None]:
    with _CACHE_LOCK:
        entry = _CACHE.setdefault(key, _Entry())
    with entry.lock:
        if entry.fresh():  # another thread refreshed while this one waited
            return entry.token or "", entry.project_id
        try:
            if entry.credentials is None:
                entry.credentials, entry.project_id = _load(source)
            entry.credentials.refresh(_request())
        except Exception as exc:  # every failure here is a configuration problem
            raise ConfigurationError(
                f"could not get a Google Cloud access token: {_describe(exc)}"
            ) from None
        entry.token = entry.credentials.token
        entry.expiry = entry.credentials.expiry
        if not entry.token:
            raise ConfigurationError("the Google token endpoint returned no access token")
        return entry.token, entry.project_id


async def access_token(source: str | None) -> tuple[str, str | None]:
    """A current access token for ``source`` (see ``_load``) and the credentials'
    project id. Cached tokens are served without I/O."""
    key = _key(source)
    entry = _CACHE.get(key)
    if entry is not None and entry.fresh():
        return entry.token or "", entry.project_id
    return await asyncio.to_thread(_refresh, key, source)


def forget() -> None:
    """Drop every cached credential and token (tests; a rotated key file)."""
    with _CACHE_LOCK:
        _CACHE.clear()
