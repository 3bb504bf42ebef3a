"""Rule ``dashboard.pin``: owners and admins pin to the global board and every team's; a
member to their own team's board only, whatever the form offered; a viewer to none."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from gateway.access import authorization, roles
from gateway.features.dashboards import save as pinned_charts
from gateway.models import PinnedChart

PIN = {"metric": "requests", "group_by": "route", "window": "24h"}


@pytest.mark.parametrize("role", [roles.OWNER, roles.ADMIN])
def test_owners_and_admins_pin_to_the_global_board_and_any_team(people, role) -> None:
    client = people[role]
    assert client.post("/dashboard/pin/", PIN).status_code == 302
    assert client.post("/dashboard/pin/", {**PIN, "team": people["blue"].pk}).status_code == 302
    assert set(PinnedChart.objects.values_list("team__name", flat=True)) == {None, "blue"}
    assert "Requests by route" in client.get("/?board=global").content.decode()
    assert "Requests by route" in client.get(f"/?board={people['blue'].pk}").content.decode()


def test_the_rule_refuses_another_teams_board_whatever_the_form(people) -> None:
    actor = roles.actor_for_user(User.objects.get(username="member"))
    for board in (people["blue"], None):
        with pytest.raises(authorization.Denied):
            pinned_charts.pin(actor, board, PIN)
    viewer = roles.actor_for_user(User.objects.get(username="viewer"))
    with pytest.raises(authorization.Denied):
        pinned_charts.pin(viewer, people["red"], PIN)
    assert pinned_charts.pin(actor, people["red"], PIN).position == 1
    with pytest.raises(ValidationError):
        pinned_charts.pin(actor, people["red"], {**PIN, "metric": "vibes"})
