"""A route's web search settings are judged when saved (``admin_ops.save_route``, which
the console, ``/api`` and imports use): a backend without its URL, an unknown backend, a
key given in clear or one that may not be sent to the backend's URL are refused, naming
the field; a good setting is saved and reaches the snapshot."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from gateway.access import registry
from gateway.ops import admin_ops

BRAVE = "https://api.search.brave.com/res/v1/web/search"


@pytest.fixture(autouse=True)
def _allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SWITCHYARD_ENV_ALLOW", "SEARCH_*")
    monkeypatch.setenv("SWITCHYARD_ENV_ENDPOINTS", f"SEARCH_KEY={BRAVE}")
    monkeypatch.setenv("SEARCH_KEY", "brave-key")


def refused(**values: object) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as caught:
        admin_ops.save_route(None, {"name": "web", **values})
    return caught.value.message_dict


@pytest.mark.django_db
def test_a_backend_without_its_url_is_refused() -> None:
    errors = refused(web_search_backend="searxng")
    assert "web_search_url" in errors
    assert "URL" in errors["web_search_url"][0]


@pytest.mark.django_db
def test_an_unknown_backend_is_refused() -> None:
    errors = refused(web_search_backend="bing", web_search_url=BRAVE)
    assert errors["web_search_backend"] == [
        "unknown search backend 'bing' (one of searxng, brave, tavily, route)"
    ]


@pytest.mark.django_db
def test_a_key_in_clear_is_refused_and_a_keyed_backend_needs_one() -> None:
    errors = refused(web_search_backend="brave", web_search_url=BRAVE, web_search_key="brave-key")
    assert "os.environ/NAME" in errors["web_search_key"][0]
    assert "brave-key" not in str(errors)
    errors = refused(web_search_backend="brave", web_search_url=BRAVE)
    assert "needs a key" in errors["web_search_key"][0]


@pytest.mark.django_db
def test_a_key_that_may_not_go_to_the_url_is_refused() -> None:
    errors = refused(
        web_search_backend="brave",
        web_search_url="https://search.example.net/q",
        web_search_key="os.environ/SEARCH_KEY",
    )
    assert "web_search_key" in errors
    errors = refused(
        web_search_backend="brave", web_search_url=BRAVE, web_search_key="os.environ/OTHER"
    )
    assert "not allowed" in errors["web_search_key"][0]


@pytest.mark.django_db
def test_a_url_without_a_backend_or_over_http_with_a_key_is_refused() -> None:
    assert "web_search_backend" in refused(web_search_url=BRAVE)
    errors = refused(
        web_search_backend="brave",
        web_search_url="http://search.example.net/q",
        web_search_key="os.environ/SEARCH_KEY",
    )
    assert "https" in errors["web_search_url"][0]


@pytest.mark.django_db
def test_a_good_setting_is_saved_and_reaches_the_snapshot() -> None:
    route = admin_ops.save_route(
        None,
        {
            "name": "web",
            "web_search_backend": "brave",
            "web_search_url": BRAVE,
            "web_search_key": "os.environ/SEARCH_KEY",
            "web_search_price": Decimal("0.005"),
        },
    )
    assert route.pk
    entry = registry.build_snapshot().routes["web"]
    assert (entry.web_search_backend, entry.web_search_url) == ("brave", BRAVE)
    assert entry.web_search_key == "os.environ/SEARCH_KEY"
    assert entry.web_search_price == Decimal("0.005")


@pytest.mark.django_db
def test_a_route_backend_is_saved_with_the_routes_name() -> None:
    """``web_search_backend: route``: the URL field names the route that searches."""
    admin_ops.save_route(
        None, {"name": "web", "web_search_backend": "route", "web_search_url": "sonar"}
    )
    entry = registry.build_snapshot().routes["web"]
    assert (entry.web_search_backend, entry.web_search_url) == ("route", "sonar")
    errors = refused(web_search_backend="route", web_search_url="https://x.example/")
    assert errors["web_search_url"] == ["name one route of this gateway, not a URL or a pattern"]
