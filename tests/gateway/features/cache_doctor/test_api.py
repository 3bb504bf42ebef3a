"""The cache doctor in the management API (``gateway.features.cache_doctor.api``):
``/api/cache-doctor`` over a replayed agent trace (``conftest.trace``): the figures and
findings per route, one route's alone, the misses explained; admins read it (and the
page), a member neither."""

from __future__ import annotations

import pytest

from tests.gateway.features.cache_doctor.conftest import client_of

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_api_and_the_page_show_it_to_admins_and_not_to_members(trace) -> None:
    admin = client_of("admin")
    answer = admin.get("/api/cache-doctor?hours=2")
    assert answer.status_code == 200, answer.content
    body = answer.json()
    (volatile,) = [g for g in body["routes"] if g["name"] == "volatile"]
    assert volatile["write_without_read"] and volatile["misses"] == 5
    assert volatile["findings"][0]["problem"].startswith("writes without reads")
    assert body["misses"][0]["cause"] == "volatile prefix"
    assert body["misses"][0]["detail"].startswith("system changes between turns")
    one = admin.get("/api/cache-doctor?route=steady").json()
    assert [g["name"] for g in one["routes"]] == ["steady"]

    page = admin.get("/spend/caching/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "writes without reads" in text and "volatile prefix" in text
    assert "cch=h000[0→1]" in text

    member = client_of("member")
    assert member.get("/api/cache-doctor").status_code == 403
    assert member.get("/spend/caching/").status_code == 403


def test_the_window_is_bounded_and_filters_apply(trace) -> None:
    admin = client_of("admin")
    assert admin.get("/api/cache-doctor?hours=0").json()["hours"] == 1
    assert admin.get("/api/cache-doctor?hours=100000").json()["hours"] == 24 * 31
    body = admin.get("/api/cache-doctor?session=sess-steady").json()
    assert body["requests"] == 6 and [g["name"] for g in body["sessions"]] == ["sess-steady"]
    (steady,) = body["routes"]
    assert steady["misses"] == 0 and steady["ttl"] in ("5m", "1h", "")
    assert body["misses"] == [] and body["capped"] is False
