"""Fixtures the response cache tests share."""

from __future__ import annotations

import dataclasses

import httpx
import pytest

from gateway import journal
from gateway.access import registry
from gateway.base import http
from gateway.core import cache
from tests.gateway.core.cache.test_service_cache import Upstream
from tests.gateway.entries import route, snapshot


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch, snapshot_reset, settings):
    """Routes "cached" (a minute), "scoped" (a minute, per key) and "plain" on a mock
    upstream: (the upstream, journal records)."""
    settings.REDIS_URL = ""
    cache.reset()
    recorded: list[journal.Record] = []
    monkeypatch.setattr(journal, "record", recorded.append)
    cached = dataclasses.replace(route("cached", "up-1", max_attempts=1), cache_ttl=60)
    scoped = dataclasses.replace(
        route("scoped", "up-1", max_attempts=1), cache_ttl=60, cache_scope="key"
    )
    registry.install(snapshot(cached, scoped, route("plain", "up-1", max_attempts=1)))
    upstream = Upstream()
    http.use_transport(httpx.MockTransport(upstream))
    yield upstream, recorded
    http.use_transport(None)
    cache.reset()
