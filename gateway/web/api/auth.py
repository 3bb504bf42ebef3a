"""Who may use the management API: the master key, a virtual key with the "management"
scope whose user is an owner or admin, or a signed-in console user; and what each may do
there, which the role policy decides (gateway/access/roles.py): a caller whose role does
not allow an operation gets 403 in JSON."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.errors import HttpError
from ninja.security import APIKeyHeader, SessionAuth

from gateway.access import authorization, roles


def _permitted(request: HttpRequest, actor: roles.Actor) -> roles.Actor:
    """``actor`` if its role allows this operation; else 403 (raised to ninja)."""
    decision = authorization.decide(actor, "api.call", (request.path, request.method or "GET"))
    if not decision:
        raise HttpError(403, decision.reason)
    request.actor = actor
    return actor


def matches_master_key(token: str) -> bool:
    master = settings.SWITCHYARD_MASTER_KEY
    return bool(master) and hmac.compare_digest(token.encode(), master.encode())


class MasterKeyAuth(APIKeyHeader):
    """``Authorization: Bearer <master key>`` or ``x-api-key: <master key>``."""

    param_name = "x-api-key"

    def __call__(self, request: HttpRequest) -> roles.Actor | None:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None) -> roles.Actor | None:
        if key and matches_master_key(key):
            return _permitted(request, roles.MASTER)
        if key:
            actor = roles.actor_for_key(key)
            if actor is not None:
                return _permitted(request, actor)
        return None


class StaffSessionAuth(SessionAuth):
    """A console session of a user with a role (CSRF enforced on unsafe methods)."""

    def __call__(self, request: HttpRequest) -> Any:  # the user, or None
        # Without a staff session there is nothing for CSRF to protect: answer 401 (a
        # wrong key), not the parent's 403 "CSRF check Failed", which sent API callers
        # with a wrong or non-master key looking for a CSRF problem.
        user = self.authenticate(request, None)
        if user is None:
            return None
        if super().__call__(request) is None:
            return None
        _permitted(request, roles.actor_for_user(user))
        return user

    def authenticate(self, request: HttpRequest, key: str | None) -> Any:  # the user, or None
        user = getattr(request, "user", None)
        if user is not None and roles.role_of(user) is not None:
            return user
        return None


def staff_or_master_key(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For /api/docs and /api/openapi.json: the API's map is for those who may use it.
    A browser without a session goes to the console's sign-in, anything else gets 401."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = getattr(request, "user", None)
        staff = roles.role_of(user) is not None
        try:
            allowed = staff or MasterKeyAuth()(request)
        except HttpError as exc:
            return JsonResponse({"detail": str(exc)}, status=exc.status_code)
        if allowed:
            return view(request, *args, **kwargs)
        sent_key = "authorization" in request.headers or "x-api-key" in request.headers
        if not sent_key and "text/html" in request.headers.get("accept", ""):
            return redirect_to_login(request.get_full_path())
        return JsonResponse({"detail": "Unauthorized"}, status=401)

    return guarded
