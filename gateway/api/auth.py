"""Who may use the management API: the master key, or a signed-in staff user."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja.security import APIKeyHeader, SessionAuth


def _matches_master(token: str) -> bool:
    master = settings.SWITCHYARD_MASTER_KEY
    return bool(master) and hmac.compare_digest(token.encode(), master.encode())


class MasterKeyAuth(APIKeyHeader):
    """``Authorization: Bearer <master key>`` or ``x-api-key: <master key>``."""

    param_name = "x-api-key"

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None):  # type: ignore[no-untyped-def]
        if key and _matches_master(key):
            return "master"
        return None


class StaffSessionAuth(SessionAuth):
    """A console session of a staff user (CSRF enforced on unsafe methods)."""

    def __call__(self, request: HttpRequest):  # type: ignore[no-untyped-def]
        # Without a staff session there is nothing for CSRF to protect: answer 401 (a
        # wrong key), not the parent's 403 "CSRF check Failed", which sent API callers
        # with a wrong or non-master key looking for a CSRF problem.
        if self.authenticate(request, None) is None:
            return None
        return super().__call__(request)

    def authenticate(self, request: HttpRequest, key: str | None):  # type: ignore[no-untyped-def]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return user
        return None


def staff_or_master_key(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For /api/docs and /api/openapi.json: the API's map is for those who may use it.
    A browser without a session goes to the console's sign-in, anything else gets 401."""

    @functools.wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = getattr(request, "user", None)
        staff = user is not None and user.is_authenticated and user.is_staff
        if staff or MasterKeyAuth()(request):
            return view(request, *args, **kwargs)
        sent_key = "authorization" in request.headers or "x-api-key" in request.headers
        if not sent_key and "text/html" in request.headers.get("accept", ""):
            return redirect_to_login(request.get_full_path())
        return JsonResponse({"detail": "Unauthorized"}, status=401)

    return guarded
