"""The process's outbound HTTP (``gateway.base.http``): the pooled transport is used unless
a test transport or hooks are installed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from gateway.base import http
from gateway.telemetry import tracing


async def test_pooled_is_the_transport_unless_a_test_transport_or_hooks_are_installed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert http.pooled() is not None
    http.use_transport(httpx.MockTransport(lambda r: httpx.Response(200)))
    assert http.pooled() is None
    http.use_transport(None)
    monkeypatch.setattr(tracing, "ENABLED", True)
    assert http.pooled() is None


def test_default_timeout_is_built_once_a_read_timeout_and_follows_the_settings(
    settings: Any,
) -> None:
    settings.SWITCHYARD_CONNECT_TIMEOUT = 4.0
    settings.SWITCHYARD_READ_TIMEOUT = 90.0
    first = http.default_timeout()
    assert (first.connect, first.read, first.write, first.pool) == (4.0, 90.0, 60.0, 30.0)
    assert http.default_timeout() is first
    assert http.default_timeout(read=12.0).read == 12.0
    settings.SWITCHYARD_READ_TIMEOUT = 45.0
    assert http.default_timeout().read == 45.0
    settings.SWITCHYARD_CONNECT_TIMEOUT = 2.0
    assert http.default_timeout(read=12.0).connect == 2.0


async def test_the_pooled_transport_keeps_to_the_total_timeout_setting(settings: Any) -> None:
    """``SWITCHYARD_TOTAL_TIMEOUT`` is the longest one upstream exchange may last
    (``PooledTransport.total_timeout``): given when the client is made, and followed
    when the setting changes."""
    settings.SWITCHYARD_TOTAL_TIMEOUT = 120.0
    http.use_transport(None)  # a new client, made with the setting as it is now
    pool = http.pooled()
    assert pool is not None and pool.total_timeout == 120.0
    settings.SWITCHYARD_TOTAL_TIMEOUT = 7.5
    assert pool.total_timeout == 7.5
    await http.aclose()
