"""Sign-in throttling for the console and ``/admin``: an authentication backend that
checks the failures of the account and of the client address before it checks a
password, and counts a failure after.

The counts are shared by every process that can see them: in Redis when ``REDIS_URL``
is set, else in the supervisor's counter service for the workers of ``serve --workers
N`` (op ``login``, ``gateway.access.login_attempts``), else in this process (and in this
process too when the shared store cannot be reached, with a warning). Password checks
run in the sync view's thread (Django serves sync views off the event loop), at most
``CHECKS_AT_ONCE`` per process: a crowd of wrong passwords queues for the hasher
instead of taking every core from ``/v1``.

A refused or failed sign-in logs a structured warning (account, address, wait; never the
password). The sign-in pages answer 429 with ``Retry-After`` while a wait runs
(``throttled_sign_in``), and say "try again in N s".
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse

from gateway.access.login_attempts import FORGET_AFTER, MAX_WAIT, LoginAttempts, wait_after
from gateway.base.counters import SOCKET_ENV, call_blocking

log = logging.getLogger("gateway.login")

ACCOUNT_FREE_FAILURES = 5  # wrong passwords for one account before waits begin
ADDRESS_FREE_FAILURES = 20  # and from one client address (several people behind a NAT)
CHECKS_AT_ONCE = 1  # password hashes computed at once per process (~1 s of CPU each)
STORE_TIMEOUT = 2.0  # seconds to reach Redis or the counter service
REDIS_PREFIX = "switchyard:login"
WAIT_ATTRIBUTE = "sign_in_wait"  # set on the request: whole seconds to wait

local = LoginAttempts()
_hashing = threading.BoundedSemaphore(CHECKS_AT_ONCE)

# Redis: every key of a sign-in in one step. Answers the longest wait (milliseconds).
_REDIS_FAILED = """
local longest = 0
for i, key in ipairs(KEYS) do
  local free = tonumber(ARGV[i + 3])
  local n = redis.call('HINCRBY', key, 'n', 1)
  redis.call('HSET', key, 'last', ARGV[1])
  redis.call('EXPIRE', key, ARGV[2])
  if n >= free then
    local delay = math.min(2 ^ (n - free), tonumber(ARGV[3])) * 1000
    if delay > longest then longest = delay end
  end
end
return longest
"""


def _redis_client() -> Any:
    import redis

    return redis.Redis.from_url(
        settings.REDIS_URL, socket_connect_timeout=STORE_TIMEOUT, socket_timeout=STORE_TIMEOUT
    )


class _Redis:
    def check(self, keys: list[list[Any]], now: float) -> float:
        client = _redis_client()
        names = [f"{REDIS_PREFIX}:{name}" for name, _ in keys]
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                pipe.hmget(name, "n", "last")
            found = pipe.execute()
        return max(
            (
                wait_after(int(n or 0), float(last or 0), int(free), now)
                for (n, last), (_, free) in zip(found, keys, strict=True)
            ),
            default=0.0,
        )

    def failed(self, keys: list[list[Any]], now: float) -> float:
        names = [f"{REDIS_PREFIX}:{name}" for name, _ in keys]
        args = [now, FORGET_AFTER, MAX_WAIT, *(free for _, free in keys)]
        return int(_redis_client().eval(_REDIS_FAILED, len(names), *names, *args)) / 1000

    def succeeded(self, names: list[str]) -> None:
        _redis_client().delete(*(f"{REDIS_PREFIX}:{name}" for name in names))


class _Service:
    """The supervisor's counter service, one short connection per call (sign-ins are
    rare, and this runs in the view's thread, not on the event loop)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _call(self, *request: Any) -> list[Any]:
        return call_blocking(self.path, ["login", *request], STORE_TIMEOUT, "the counter service")

    def check(self, keys: list[list[Any]], now: float) -> float:
        return float(self._call("check", keys, now)[0])

    def failed(self, keys: list[list[Any]], now: float) -> float:
        return float(self._call("failed", keys, now)[0])

    def succeeded(self, names: list[str]) -> None:
        self._call("succeeded", names)


def _store() -> Any:
    if getattr(settings, "REDIS_URL", ""):
        return _Redis()
    path = os.environ.get(SOCKET_ENV)
    return _Service(path) if path else local


def _shared(operation: str, *args: Any) -> Any:
    """``operation`` on the shared store, or on this process's when it cannot answer."""
    store = _store()
    try:
        return getattr(store, operation)(*args)
    except Exception as exc:
        if store is local:
            raise
        log.warning("sign-in throttling: the shared store failed (%s); counting here", exc)
        return getattr(local, operation)(*args)


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR") or "unknown"


def keys_for(username: str, address: str) -> list[list[Any]]:
    return [
        [f"account:{username.strip().lower()}", ACCOUNT_FREE_FAILURES],
        [f"address:{address}", ADDRESS_FREE_FAILURES],
    ]


def _note(request: HttpRequest, event: str, username: str, wait: float) -> None:
    seconds = math.ceil(wait)
    if seconds:
        setattr(request, WAIT_ATTRIBUTE, seconds)
    log.warning(
        "sign-in %s for account %r from %s (retry after %d s)",
        event,
        username,
        client_address(request),
        seconds,
        extra={
            "event": f"sign_in.{event}",
            "account": username,
            "address": client_address(request),
            "retry_after_s": seconds,
        },
    )


class ThrottledModelBackend(ModelBackend):
    """Django's model backend behind the per-account and per-address waits."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        from gateway.access import sso  # the sign-on settings read the environment only

        if not sso.password_sign_in_allowed(username):
            return None  # SWITCHYARD_SSO_ONLY: not a break-glass account
        if request is None or username is None or password is None:
            return super().authenticate(request, username, password, **kwargs)
        keys = keys_for(username, client_address(request))
        wait = _shared("check", keys, time.time())
        if wait > 0:
            _note(request, "refused", username, wait)
            raise PermissionDenied("too many failed sign-ins")  # authenticate() stops here
        with _hashing:
            user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            _note(request, "failed", username, _shared("failed", keys, time.time()))
        else:
            _shared("succeeded", [keys[0][0]])
        return user


def wait_message(seconds: int) -> str:
    return f"Too many failed sign-ins. Try again in {seconds} s."


def throttled_sign_in(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """A sign-in view answering 429 with ``Retry-After`` while a wait runs."""

    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        seconds = getattr(request, WAIT_ATTRIBUTE, None)
        if seconds and response.status_code == 200:
            response.status_code = 429
            response["Retry-After"] = str(seconds)
        return response

    guarded.__name__ = getattr(view, "__name__", "sign_in")
    guarded.__doc__ = view.__doc__
    return guarded


class ThrottleMessageMixin:
    """For an ``AuthenticationForm``: a sign-in refused for a wait says how long."""

    request: HttpRequest | None

    def get_invalid_login_error(self) -> ValidationError:
        seconds = getattr(self.request, WAIT_ATTRIBUTE, None)
        if seconds:
            return ValidationError(wait_message(seconds), code="throttled")
        return super().get_invalid_login_error()  # type: ignore[misc]


class ThrottledAuthenticationForm(ThrottleMessageMixin, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(ThrottleMessageMixin, AdminAuthenticationForm):
    pass
