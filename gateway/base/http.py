"""The one seam for outbound HTTP: a pooled ``httpx.AsyncClient`` per process (per event
loop) over ``PooledTransport`` (a lean keep-alive HTTP/1.1 wire, see there). Tests swap
the transport with ``use_transport(httpx.MockTransport(...))``.

In ``base`` because providers, MCP and the pipeline all post through it. What watches
the requests (tracing's traceparent) comes from above as httpx event hooks, registered
in ``hooks.http_client_hooks``: this module imports nothing of telemetry."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from django.conf import settings
from django.core.signals import setting_changed

from gateway.base import hooks, running_loop
from gateway.base.pooled_transport import AnswerTooLarge, PooledTransport

URL_CACHE_SIZE = 512

_clients: dict[int, httpx.AsyncClient] = {}
_transport: httpx.AsyncBaseTransport | None = None


# The timeouts of each read timeout asked for, built once: a request asked for its
# provider's (an ``httpx.Timeout`` and two settings reads cost each request ~3 us; httpx
# only reads it). Forgotten when a setting changes.
_timeouts: dict[float | None, httpx.Timeout] = {}


def default_timeout(read: float | None = None) -> httpx.Timeout:
    timeout = _timeouts.get(read)
    if timeout is None:
        if len(_timeouts) >= URL_CACHE_SIZE:
            _timeouts.clear()
        timeout = _timeouts[read] = httpx.Timeout(
            connect=settings.SWITCHYARD_CONNECT_TIMEOUT,
            read=read or settings.SWITCHYARD_READ_TIMEOUT,
            write=60.0,
            pool=30.0,
        )
    return timeout


class NoCookies(httpx.Cookies):
    """A jar that keeps nothing. The one client is shared by every caller and provider,
    so an upstream's Set-Cookie must never ride along on someone else's request; and
    httpx's cookie extraction (through urllib's cookiejar) cost a sixth of a request."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


class PooledClient(httpx.AsyncClient):
    """``httpx.AsyncClient`` without a cookie jar that parses each distinct upstream URL
    once: httpx's pure-Python URL parser was a third of ``build_request``, paid on every
    request for the same few upstream URLs (``httpx.URL`` is immutable: safe to share)."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._cookies = NoCookies()
        self._urls: dict[str, httpx.URL] = {}
        # The transport to post to directly (``pooled``), None when requests must go
        # through httpx's layers: a test's transport, or request hooks (tracing).
        self.direct: PooledTransport | None = None

    def _merge_url(self, url: httpx.URL | str) -> httpx.URL:
        if not isinstance(url, str):
            return super()._merge_url(url)
        merged = self._urls.get(url)
        if merged is None:
            if len(self._urls) >= URL_CACHE_SIZE:
                self._urls.clear()
            merged = self._urls[url] = super()._merge_url(url)
        return merged


def event_hooks() -> dict[str, list[Callable[..., Any]]]:
    """The httpx event hooks the registered providers (``hooks.http_client_hooks``) ask
    for now, merged in registration order."""
    merged: dict[str, list[Callable[..., Any]]] = {}
    for provide in hooks.http_client_hooks:
        for event, functions in provide().items():
            merged.setdefault(event, []).extend(functions)
    return merged


def client() -> httpx.AsyncClient:
    """The pooled client for the running event loop (created on first use)."""
    loop_id = id(running_loop.get())
    existing = _clients.get(loop_id)
    if existing is not None and not existing.is_closed:
        return existing
    max_connections: int = settings.SWITCHYARD_MAX_CONNECTIONS
    max_keepalive = min(200, max_connections)
    keepalive_expiry = 30.0
    limits = httpx.Limits(
        max_connections=max_connections,
        max_keepalive_connections=max_keepalive,
        keepalive_expiry=keepalive_expiry,
    )
    transport = _transport or PooledTransport(
        max_connections=max_connections,
        max_keepalive=max_keepalive,
        keepalive_expiry=keepalive_expiry,
        total_timeout=settings.SWITCHYARD_TOTAL_TIMEOUT,
    )
    created = PooledClient(
        timeout=default_timeout(),
        limits=limits,
        transport=transport,
        follow_redirects=False,
        trust_env=False,
        event_hooks=event_hooks(),  # traceparent upstream; none when tracing is off
    )
    if isinstance(transport, PooledTransport) and not created.event_hooks["request"]:
        transport.default_headers = {name.lower(): value for name, value in created.headers.items()}
        created.direct = transport
    _clients[loop_id] = created
    return created


_answer_limit: list[int] = []  # read once: a settings read costs each request ~0.5 us


def max_answer_bytes() -> int:
    """The longest non-streamed upstream answer read (``SWITCHYARD_MAX_ANSWER_BYTES``)."""
    if not _answer_limit:
        _answer_limit.append(settings.SWITCHYARD_MAX_ANSWER_BYTES)
    return _answer_limit[0]


def _forget_answer_limit(setting: str, **kwargs: object) -> None:
    if setting == "SWITCHYARD_MAX_ANSWER_BYTES":
        _answer_limit.clear()
    if setting in ("SWITCHYARD_CONNECT_TIMEOUT", "SWITCHYARD_READ_TIMEOUT"):
        _timeouts.clear()
    if setting == "SWITCHYARD_TOTAL_TIMEOUT":
        for made in _clients.values():
            pool = made._transport  # (httpx's own attribute: the transport it sends with)
            if isinstance(pool, PooledTransport):
                pool.total_timeout = settings.SWITCHYARD_TOTAL_TIMEOUT


setting_changed.connect(_forget_answer_limit)


async def post_capped(
    url: str, content: bytes, headers: dict[str, str], timeouts: httpx.Timeout, limit: int
) -> tuple[httpx.Response, bytes]:
    """POST through ``client()`` and read the answer, at most ``limit`` bytes of it
    (``AnswerTooLarge`` past that, the rest never read)."""
    request = client().build_request(
        "POST", url, content=content, headers=headers, timeout=timeouts
    )
    response = await client().send(request, stream=True)
    try:
        parts: list[bytes] = []
        size = 0
        async for piece in response.aiter_bytes():
            parts.append(piece)
            size += len(piece)
            if size > limit:
                raise AnswerTooLarge(limit)
    finally:
        await response.aclose()
    body = b"".join(parts)  # decoded: the copy must not say it is still encoded
    kept = [(k, v) for k, v in response.headers.raw if k.lower() != b"content-encoding"]
    return httpx.Response(response.status_code, headers=kept, content=body, request=request), body


def pooled() -> PooledTransport | None:
    """The running loop's ``PooledTransport`` when a POST may skip httpx's client layers
    (``PooledTransport.post``): None when a test transport is installed
    (``use_transport``) or request hooks must see each request (tracing), so callers
    take ``client()`` then."""
    existing = client()
    return existing.direct if isinstance(existing, PooledClient) else None


def use_transport(transport: httpx.AsyncBaseTransport | None) -> None:
    """Route every outbound request through ``transport`` (tests); None restores."""
    global _transport
    _transport = transport
    _clients.clear()


async def aclose() -> None:
    for existing in list(_clients.values()):
        await existing.aclose()
    _clients.clear()
