"""Editing a key's limits on the Keys page: the row swaps to a form and back (htmx),
saves through ``gateway.access.keys.update_key``, and bad input shows next to its field while
nothing changes."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from gateway.models import ApiKey, Route
from tests.console.test_editing import field_error


@pytest.fixture
def key(db) -> ApiKey:
    Route.objects.create(name="fast")
    Route.objects.create(name="slow")
    key = ApiKey.objects.create(
        name="ci", prefix="sy-ci", key_hash="c" * 64, rpm_limit=10, budget_usd=Decimal("5")
    )
    key.routes.set(Route.objects.filter(name="fast"))
    return key


def form_data(**overrides) -> dict:
    data = {
        "name": "ci",
        "routes": ["fast"],
        "rpm_limit": "10",
        "tpm_limit": "",
        "budget_usd": "5",
        "budget_period": "month",
        "expires_at": "",
    }
    return {**data, **overrides}


def test_edit_row_is_prefilled_and_swaps_in(staff_client: Client, key: ApiKey) -> None:
    html = staff_client.get(f"/keys/{key.pk}/edit/", HTTP_HX_REQUEST="true").content.decode()
    assert html.lstrip().startswith(f'<tr id="key-{key.pk}" class="editing">')
    assert f'id="id_key{key.pk}_rpm_limit"' in html and 'value="10"' in html
    # The route picker is a checkbox list (was a multi-select): "fast" comes ticked.
    ticked = re.findall(r'<input type="checkbox" name="routes" value="(\w+)"[^>]*checked', html)
    assert ticked == ["fast"] and "<html" not in html


def test_edit_saves_every_limit_and_returns_the_row(staff_client: Client, key: ApiKey) -> None:
    expiry = (timezone.now() + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    data = form_data(
        name="ci-2",
        routes=["slow"],
        rpm_limit="60",
        tpm_limit="90000",
        budget_usd="12.5",
        budget_period="day",
        expires_at=expiry,
    )
    response = staff_client.post(f"/keys/{key.pk}/edit/", data, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith(f'<tr id="key-{key.pk}" class="">') and "ci-2" in html
    assert "60 req/min" in html and '<form class="form"' not in html
    key.refresh_from_db()
    assert (key.name, key.rpm_limit, key.tpm_limit) == ("ci-2", 60, 90000)
    assert (key.budget_usd, key.budget_period) == (Decimal("12.5"), "day")
    assert [r.name for r in key.routes.all()] == ["slow"]
    assert key.expires_at.strftime("%Y-%m-%dT%H:%M") == expiry


def test_clearing_limits_and_routes(staff_client: Client, key: ApiKey) -> None:
    data = form_data(routes=[], rpm_limit="", budget_usd="")
    staff_client.post(f"/keys/{key.pk}/edit/", data, HTTP_HX_REQUEST="true")
    key.refresh_from_db()
    assert key.rpm_limit is None and key.budget_usd is None and not key.routes.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rpm_limit", "0", "positive whole number"),
        ("tpm_limit", "lots", "whole number"),
        ("budget_usd", "-1", "greater than or equal to 0"),
        ("name", "", "required"),
        ("expires_at", "2001-01-01T00:00", "in the future"),
        ("budget_period", "week", "valid choice"),
    ],
)
def test_bad_input_shows_next_to_the_field_and_changes_nothing(
    staff_client: Client, key: ApiKey, field: str, value: str, message: str
) -> None:
    before = ApiKey.objects.filter(pk=key.pk).values().get()
    data = {**form_data(name="renamed", tpm_limit="99"), field: value}
    html = staff_client.post(f"/keys/{key.pk}/edit/", data, HTTP_HX_REQUEST="true").content.decode()
    assert message in field_error(html, f"key{key.pk}_{field}")
    assert html.lstrip().startswith(f'<tr id="key-{key.pk}" class="editing">')
    assert ApiKey.objects.filter(pk=key.pk).values().get() == before
    assert [r.name for r in key.routes.all()] == ["fast"]


def test_an_expired_key_can_be_edited_without_touching_its_expiry(
    staff_client: Client, key: ApiKey
) -> None:
    past = timezone.now() - timedelta(days=1)
    ApiKey.objects.filter(pk=key.pk).update(expires_at=past)
    key.refresh_from_db()
    form = staff_client.get(f"/keys/{key.pk}/edit/", HTTP_HX_REQUEST="true").content.decode()
    shown = past.strftime("%Y-%m-%dT%H:%M")
    assert f'value="{shown}"' in form
    staff_client.post(
        f"/keys/{key.pk}/edit/", form_data(rpm_limit="7", expires_at=shown), HTTP_HX_REQUEST="true"
    )
    key.refresh_from_db()
    assert key.rpm_limit == 7 and key.expires_at == past


def test_without_htmx_the_edit_is_a_page_and_a_redirect(staff_client: Client, key: ApiKey) -> None:
    page = staff_client.get(f"/keys/{key.pk}/edit/").content.decode()
    assert "<html" in page and f'id="id_key{key.pk}_name"' in page and 'id="id_name"' in page
    response = staff_client.post(f"/keys/{key.pk}/edit/", form_data(rpm_limit="11"))
    assert response.status_code == 302 and response["Location"].endswith(f"#key-{key.pk}")
    key.refresh_from_db()
    assert key.rpm_limit == 11


def test_non_staff_cannot_edit(key: ApiKey) -> None:
    client = Client()
    client.force_login(User.objects.create_user("viewer", password="pw-123456789"))
    assert client.get(f"/keys/{key.pk}/edit/").status_code == 403
    response = client.post(f"/keys/{key.pk}/edit/", form_data(rpm_limit="1000"))
    assert response.status_code == 403
    key.refresh_from_db()
    assert key.rpm_limit == 10
