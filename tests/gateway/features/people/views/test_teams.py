"""The teams pages' forms (#62 shared their fields, ``people/_team_fields.html``): the
new-team form asks a team's name, description and limits; the team's own page those
and its alert thresholds."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from gateway.models import Team
from tests.gateway.features.people.accounts import as_user, made

pytestmark = pytest.mark.django_db

LIMITS = ["name", "description", "rpm_limit", "tpm_limit", "budget_usd", "budget_period"]


def _fields(html: str) -> list[str]:
    return re.findall(r'<(?:input|select|textarea)[^>]*\bname="([a-z_]+)"', html)


def test_the_new_team_form_asks_name_description_and_limits() -> None:
    client = as_user(made("admin")["admin"])
    html = client.get(reverse("console:teams")).content.decode()
    fields = _fields(html)
    assert [f for f in fields if f in {*LIMITS, "alert_thresholds"}] == LIMITS
    assert 'class="form-grid"' in html


def test_a_teams_page_asks_its_limits_and_alert_thresholds() -> None:
    team = Team.objects.create(name="blue")
    client = as_user(made("admin")["admin"])
    html = client.get(reverse("console:team-edit", args=[team.pk])).content.decode()
    fields = _fields(html)
    assert [f for f in fields if f in {*LIMITS, "alert_thresholds"}] == [
        *LIMITS,
        "alert_thresholds",
    ]
