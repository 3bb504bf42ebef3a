"""Who may send a large body, decided before it is read.

The playground, the config import and evaluation datasets take bodies far larger than
a form's (``body_caps.body_cap``), and Django spools a body to a temporary file before
any view checks who sent it: 20 anonymous uploads of 49 MiB left 980 MB in /tmp. Here,
in front of Django, a body that may be larger than a form's (declared so, or sent
without a length) to one of those paths is let through only for a caller the one
authorization decision (``access.authorization``) lets use that page or operation:
a console session with a role, or for ``/api`` the master key or a management key.
Anyone else is answered at once, the body unread, as the view itself would answer:
``/api`` 401 or 403 in JSON, a console page a redirect to sign-in or 403.

Costs one session (or key) lookup in a worker thread, only for such uploads."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from http.cookies import SimpleCookie
from importlib import import_module
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

import orjson
from django.conf import settings

from gateway.access import authorization, roles
from gateway.base import db_work

API_PREFIX = "/api/"


@dataclass(frozen=True, slots=True)
class Refusal:
    """An answer given instead of reading the body."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes


def _headers(scope: dict[str, Any]) -> dict[bytes, bytes]:
    return {name.lower(): value for name, value in scope.get("headers", [])}


def _sent_key(headers: dict[bytes, bytes]) -> str:
    value = headers.get(b"authorization", b"").decode("latin-1")
    if value[:7].lower() == "bearer ":
        return value[7:].strip()
    return headers.get(b"x-api-key", b"").decode("latin-1").strip()


def _key_actor(key: str) -> roles.Actor | None:
    """The /api actor of a key (as ``edge.api.auth.MasterKeyAuth`` finds it)."""
    master = settings.SWITCHYARD_MASTER_KEY
    if master and hmac.compare_digest(key.encode(), master.encode()):
        return roles.MASTER
    return roles.actor_for_key(key)


def _session_actor(headers: dict[bytes, bytes]) -> roles.Actor | None:
    """The actor of the console session the cookie names (None: no signed-in user)."""
    from django.contrib.auth import get_user

    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed Cookie header: no session
        return None
    morsel = cookie.get(settings.SESSION_COOKIE_NAME)
    if morsel is None or not morsel.value:
        return None
    store = import_module(settings.SESSION_ENGINE).SessionStore(morsel.value)
    user = get_user(SimpleNamespace(session=store))
    if not user.is_authenticated:
        return None
    return roles.actor_for_user(user)


def _identify(scope: dict[str, Any]) -> roles.Actor | None:
    headers = _headers(scope)
    if scope["path"].startswith(API_PREFIX):
        key = _sent_key(headers)
        actor = _key_actor(key) if key else None
        if actor is not None:  # else a console session, as /api's second authenticator
            return actor
    actor = _session_actor(headers)
    return actor if actor is not None and actor.role is not None else None


def _json(status: int, detail: str) -> Refusal:
    body = orjson.dumps({"detail": detail})
    return Refusal(status, [(b"content-type", b"application/json")], body)


def _decide(scope: dict[str, Any], actor: roles.Actor) -> authorization.Decision | None:
    """The decision for the page or operation ``scope`` asks for (None: a console path
    no URL matches; Django answers it, 404, after a small read)."""
    from django.urls import Resolver404, resolve

    path, method = scope["path"], scope.get("method") or "GET"
    if path.startswith(API_PREFIX):
        return authorization.decide(actor, "api.call", (path, method))
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return authorization.decide(actor, "page.open", (match.view_name, method))


def check(scope: dict[str, Any]) -> Refusal | None:
    """None when the caller may send this large body; else the answer to give without
    reading it (sync: it reads the session or key from the database)."""

    actor = db_work.run(_identify, scope)
    api = scope["path"].startswith(API_PREFIX)
    if actor is None:
        if api:
            return _json(401, "Unauthorized")
        from django.shortcuts import resolve_url

        query = scope.get("query_string") or b""
        target = scope["path"] + ("?" + query.decode("latin-1") if query else "")
        location = f"{resolve_url(settings.LOGIN_URL)}?next={quote(target)}".encode()
        return Refusal(302, [(b"location", location)], b"")
    decision = _decide(scope, actor)
    if decision is None or decision:
        return None
    if api:
        return _json(403, decision.reason or "Forbidden")
    return Refusal(403, [(b"content-type", b"text/plain; charset=utf-8")], b"Forbidden")


async def send(refusal: Refusal, send: Any) -> None:
    """Answer with ``refusal`` and close the connection (the body is not read)."""
    headers = [
        *refusal.headers,
        (b"content-length", str(len(refusal.body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": refusal.status, "headers": headers})
    await send({"type": "http.response.body", "body": refusal.body})
