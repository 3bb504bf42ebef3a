"""The process's outbound HTTP (``gateway.base.http``): the pooled transport is used unless
a test transport or hooks are installed."""

from __future__ import annotations

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
