"""Who may use the management API: the master key, or a signed-in staff user."""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import HttpRequest
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

    def authenticate(self, request: HttpRequest, key: str | None):  # type: ignore[no-untyped-def]
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_staff:
            return user
        return None
