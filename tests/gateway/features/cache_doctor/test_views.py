"""The cache doctor's page (``gateway.features.cache_doctor.views``): the window chosen
(a day when the one asked for is not offered), one route's or session's report, the
tables cut to ``SHOWN`` rows, the routes' findings beside them; admins read it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from gateway.features.cache_doctor import reading, views
from gateway.features.cache_doctor.doctor import Report
from tests.console.role_sets import ADMINS, Expectation
from tests.gateway.features.cache_doctor.conftest import client_of

ROLE_EXPECTATIONS: dict[str, Expectation] = {"cache-doctor": (ADMINS, ADMINS)}


@pytest.fixture
def asked(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """What the page asked the reading for (an empty report answered)."""
    calls: list[dict[str, Any]] = []

    def diagnose(since: Any, until: Any = None, **filters: Any) -> Report:
        calls.append({"hours": (timezone.now() - since) / timedelta(hours=1), **filters})
        return reading.doctor.analyse([], {})

    monkeypatch.setattr(reading, "diagnose", diagnose)
    return calls


@pytest.mark.django_db
def test_the_window_and_the_filters(asked: list[dict[str, Any]]) -> None:
    admin = client_of("admin")
    page = admin.get("/spend/caching/?window=7d&route=chat&session=s1")
    assert page.status_code == 200
    assert page.context["window"] == "7d" and page.context["windows"] == list(views.WINDOWS)
    assert round(asked[0]["hours"]) == 24 * 7
    assert (asked[0]["route"], asked[0]["session"]) == ("chat", "s1")
    assert admin.get("/spend/caching/?window=1y").context["window"] == "24h"
    assert round(asked[1]["hours"]) == 24
    admin.get("/spend/caching/?route=" + "r" * 500)
    assert len(asked[2]["route"]) == 200


@pytest.mark.django_db(transaction=True)
def test_the_tables_are_cut_and_findings_shown(trace, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(views, "SHOWN", 1)
    context = client_of("admin").get("/spend/caching/?window=1h").context
    assert len(context["routes"]) == 1 and len(context["report"].routes) == 2
    assert len(context["misses"]) == 1 and len(context["report"].misses) == 5
    (found,) = context["findings"]
    assert found[0].name == "volatile" and found[1]
