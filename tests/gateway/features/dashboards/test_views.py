"""The dashboard's pinned board: a chart pinned is on its team's board after a reload,
unpinned and reordered there; a member pins to their own team's board only, a viewer
to none, owners and admins to the global board and every team's; a board's charts show
the reader's visible keys among the team's."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from gateway.access import authorization, roles
from gateway.features.dashboards import save as pinned_charts
from gateway.models import ApiKey, Membership, PinnedChart, RequestLog, Team
from gateway.models.dashboards import MAX_PER_BOARD
from tests.console.role_sets import KEY_EDITORS, Expectation

# pin, unpin, reorder: every role that may pin somewhere (rule dashboard.pin narrows it)
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "dashboard-pin": (KEY_EDITORS, KEY_EDITORS),
    "dashboard-unpin": (KEY_EDITORS, KEY_EDITORS),
    "dashboard-move": (KEY_EDITORS, KEY_EDITORS),
}


@pytest.fixture
def people(db) -> dict:
    red, blue = Team.objects.create(name="red"), Team.objects.create(name="blue")
    found: dict = {"red": red, "blue": blue}
    for role in roles.ROLES:
        user = User.objects.create_user(role, password="pw-123456789")
        roles.set_role(user, role)
        if role in (roles.EDITOR, roles.MEMBER, roles.VIEWER):
            Membership.objects.create(user=user, team=red, role=role)
        client = Client()
        client.force_login(user)
        found[role] = client
    return found


PIN = {"metric": "requests", "group_by": "route", "window": "24h"}


def test_a_member_pins_to_their_team_and_sees_it_after_a_reload(people) -> None:
    red = people["red"]
    answer = people["member"].post("/dashboard/pin/", {**PIN, "team": red.pk})
    assert answer.status_code == 302 and answer["Location"] == f"/?board={red.pk}#pinned-board"
    chart = PinnedChart.objects.get()
    assert (chart.team, chart.metric, chart.group_by, chart.window) == (red, *PIN.values())
    page = people["member"].get("/").content.decode()
    assert "Requests by route" in page and f'id="pin-{chart.pk}"' in page


def test_a_member_cannot_pin_to_another_team_nor_the_global_board(people) -> None:
    member = people["member"]
    other = member.post("/dashboard/pin/", {**PIN, "team": people["blue"].pk})
    assert other.status_code == 422  # blue is not among the form's boards
    bare = member.post("/dashboard/pin/", PIN)  # no team: the global board
    assert bare.status_code == 422
    assert not PinnedChart.objects.exists()


def test_a_member_cannot_unpin_or_move_another_teams_chart(people) -> None:
    blue_chart = PinnedChart.objects.create(team=people["blue"], **PIN)
    for url in (
        f"/dashboard/pins/{blue_chart.pk}/unpin/",
        f"/dashboard/pins/{blue_chart.pk}/move/",
    ):
        assert people["member"].post(url).status_code == 404  # not a board they see
    red_viewer = people["viewer"]
    red_chart = PinnedChart.objects.create(team=people["red"], **PIN)
    assert red_viewer.post(f"/dashboard/pins/{red_chart.pk}/unpin/").status_code == 403
    assert PinnedChart.objects.count() == 2


def test_a_viewer_sees_the_board_without_the_form(people) -> None:
    PinnedChart.objects.create(team=people["red"], **PIN)
    page = people["viewer"].get("/").content.decode()
    assert "Requests by route" in page
    assert "Pin a chart" not in page and "Unpin" not in page
    assert people["viewer"].get("/dashboard/pin/").status_code == 403


@pytest.mark.parametrize("role", [roles.OWNER, roles.ADMIN])
def test_owners_and_admins_pin_to_the_global_board_and_any_team(people, role) -> None:
    client = people[role]
    assert client.post("/dashboard/pin/", PIN).status_code == 302
    assert client.post("/dashboard/pin/", {**PIN, "team": people["blue"].pk}).status_code == 302
    assert set(PinnedChart.objects.values_list("team__name", flat=True)) == {None, "blue"}
    assert "Requests by route" in client.get("/?board=global").content.decode()
    assert "Requests by route" in client.get(f"/?board={people['blue'].pk}").content.decode()


def test_a_member_does_not_see_another_teams_board(people) -> None:
    PinnedChart.objects.create(team=people["blue"], metric="cost", group_by="model")
    PinnedChart.objects.create(team=None, metric="tokens", group_by="key")
    page = people["member"].get(f"/?board={people['blue'].pk}").content.decode()
    assert "Cost by model" not in page and "Tokens by key" not in page
    assert "?board=global" not in page


def test_unpin_and_reorder(people) -> None:
    owner, red = people["owner"], people["red"]
    first = PinnedChart.objects.create(team=red, position=1, metric="cost", group_by="model")
    second = PinnedChart.objects.create(team=red, position=2, metric="errors", group_by="route")
    owner.post(f"/dashboard/pins/{second.pk}/move/", {"direction": "up"})
    assert list(PinnedChart.objects.filter(team=red).values_list("pk", flat=True)) == [
        second.pk,
        first.pk,
    ]
    page = owner.get(f"/?board={red.pk}").content.decode()
    assert page.index("Errors by route") < page.index("Cost by model")
    answer = owner.post(f"/dashboard/pins/{second.pk}/unpin/", HTTP_HX_REQUEST="true")
    assert answer.status_code == 200 and 'id="pinned-board"' in answer.content.decode()
    assert "Errors by route" not in answer.content.decode()
    assert list(PinnedChart.objects.values_list("pk", flat=True)) == [first.pk]


def test_htmx_pin_answers_with_the_board(people) -> None:
    answer = people["editor"].post(
        "/dashboard/pin/", {**PIN, "team": people["red"].pk}, HTTP_HX_REQUEST="true"
    )
    html = answer.content.decode()
    assert answer.status_code == 200 and html.lstrip().startswith('<section id="pinned-board"')
    assert "Requests by route" in html


def test_a_board_holds_at_most_its_charts(people) -> None:
    red = people["red"]
    PinnedChart.objects.bulk_create(
        [PinnedChart(team=red, position=i, **PIN) for i in range(MAX_PER_BOARD)]
    )
    answer = people["member"].post("/dashboard/pin/", {**PIN, "team": red.pk})
    assert answer.status_code == 422 and b"at most" in answer.content
    assert PinnedChart.objects.count() == MAX_PER_BOARD


def test_a_team_board_shows_the_readers_keys_among_the_teams(people) -> None:
    red = people["red"]
    member = User.objects.get(username="member")
    mine = ApiKey.objects.create(
        name="mine", prefix="sy-m", key_hash="m" * 64, team=red, user=member
    )
    theirs = ApiKey.objects.create(name="theirs", prefix="sy-t", key_hash="t" * 64, team=red)
    elsewhere = ApiKey.objects.create(name="far", prefix="sy-f", key_hash="f" * 64)
    when = timezone.now() - timedelta(minutes=1)
    for key in (mine, theirs, elsewhere):
        RequestLog.objects.create(request_id=f"r-{key.name}", dialect="openai", endpoint="chat",
                                  status=200, created_at=when, key_id=key.pk, key_name=key.name)  # fmt: skip
    PinnedChart.objects.create(team=red, metric="requests", group_by="key", window="1h")
    member_page = people["member"].get("/").content.decode()
    assert ">mine<" in member_page and ">theirs<" not in member_page  # a member: own keys
    editor_page = people["editor"].get("/").content.decode()
    assert ">mine<" in editor_page and ">theirs<" in editor_page and ">far<" not in editor_page


def test_the_pin_form_is_prefilled_from_the_query(people) -> None:
    page = people["owner"].get("/dashboard/pin/?metric=cost&group_by=team").content.decode()
    assert '<option value="cost" selected>' in page
    assert '<option value="team" selected>' in page


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


def test_spend_and_logs_link_the_pin_form_for_those_who_pin(people) -> None:
    spend = people["owner"].get("/spend/?window=24h&group=model").content.decode()
    assert "/dashboard/pin/?metric=cost&amp;group_by=model&amp;window=24h" in spend
    logs = people["member"].get("/logs/").content.decode()
    assert "/dashboard/pin/?metric=requests&amp;group_by=route" in logs
    assert "/dashboard/pin/" not in people["viewer"].get("/logs/").content.decode()


def api(client: Client, method: str, url: str, body: dict | None = None):  # type: ignore[no-untyped-def]
    call = getattr(client, method)
    if body is None:
        return call(url)
    return call(url, data=json.dumps(body), content_type="application/json")


def test_the_api_pins_lists_and_unpins_within_the_same_rule(people) -> None:
    red, blue = people["red"], people["blue"]
    member, owner = people["member"], people["owner"]
    made = api(member, "post", "/api/dashboards/", {**PIN, "team": red.pk})
    assert made.status_code == 201 and made.json()["team"] == "red"
    assert api(member, "post", "/api/dashboards/", PIN).status_code == 403  # the global board
    other = api(member, "post", "/api/dashboards/", {**PIN, "team": blue.pk})
    assert other.status_code == 422 and "team" in other.json()["errors"]
    bad = api(member, "post", "/api/dashboards/", {**PIN, "team": red.pk, "metric": "vibes"})
    assert bad.status_code == 422 and "metric" in bad.json()["errors"]
    assert api(owner, "post", "/api/dashboards/", {**PIN, "team": blue.pk}).status_code == 201
    assert api(owner, "post", "/api/dashboards/", PIN).json()["team"] is None
    seen = [c["team"] for c in api(member, "get", "/api/dashboards/").json()]
    assert seen == ["red"]  # blue's and the global board's are not theirs to see
    assert len(api(owner, "get", "/api/dashboards/").json()) == 3
    assert [c["team"] for c in api(owner, "get", "/api/dashboards/?team=global").json()] == [None]
    blue_chart = PinnedChart.objects.get(team=blue)
    assert api(member, "delete", f"/api/dashboards/{blue_chart.pk}").status_code == 404
    assert (
        api(people["viewer"], "delete", f"/api/dashboards/{made.json()['id']}").status_code == 403
    )
    assert api(member, "delete", f"/api/dashboards/{made.json()['id']}").status_code == 204
    assert PinnedChart.objects.count() == 2


def test_a_boards_tab_answers_htmx_with_that_board_alone(people) -> None:
    PinnedChart.objects.create(team=people["blue"], metric="cost", group_by="model")
    answer = people["owner"].get(
        f"/?board={people['blue'].pk}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pinned-board"
    )
    html = answer.content.decode()
    assert html.lstrip().startswith('<section id="pinned-board"') and "Cost by model" in html
    assert 'id="dashboard-body"' not in html
