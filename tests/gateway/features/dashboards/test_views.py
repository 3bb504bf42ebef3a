"""The dashboard's pinned board: a chart pinned is on its team's board after a reload,
unpinned and reordered there; a member pins to their own team's board only, a viewer
to none, owners and admins to the global board and every team's; a board's charts show
the reader's visible keys among the team's."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from gateway.models import ApiKey, PinnedChart, RequestLog
from tests.console.role_sets import KEY_EDITORS, Expectation

# pin, unpin, reorder: every role that may pin somewhere (rule dashboard.pin narrows it)
ROLE_EXPECTATIONS: dict[str, Expectation] = {
    "dashboard-pin": (KEY_EDITORS, KEY_EDITORS),
    "dashboard-unpin": (KEY_EDITORS, KEY_EDITORS),
    "dashboard-move": (KEY_EDITORS, KEY_EDITORS),
}


PIN = {"metric": "requests", "group_by": "route", "window": "24h"}


def test_a_member_pins_to_their_team_and_sees_it_after_a_reload(people) -> None:
    red = people["red"]
    answer = people["member"].post("/dashboard/pin/", {**PIN, "team": red.pk})
    assert answer.status_code == 302 and answer["Location"] == f"/?board={red.pk}#pinned-board"
    chart = PinnedChart.objects.get()
    assert (chart.team, chart.metric, chart.group_by, chart.window) == (red, *PIN.values())
    page = people["member"].get("/").content.decode()
    assert "Requests by route" in page and f'id="pin-{chart.pk}"' in page


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


def test_a_member_does_not_see_another_teams_board(people) -> None:
    PinnedChart.objects.create(team=people["blue"], metric="cost", group_by="model")
    PinnedChart.objects.create(team=None, metric="tokens", group_by="key")
    page = people["member"].get(f"/?board={people['blue'].pk}").content.decode()
    assert "Cost by model" not in page and "Tokens by key" not in page
    assert "?board=global" not in page


def test_htmx_pin_answers_with_the_board(people) -> None:
    answer = people["editor"].post(
        "/dashboard/pin/", {**PIN, "team": people["red"].pk}, HTTP_HX_REQUEST="true"
    )
    html = answer.content.decode()
    assert answer.status_code == 200 and html.lstrip().startswith('<section id="pinned-board"')
    assert "Requests by route" in html


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


def test_spend_and_logs_link_the_pin_form_for_those_who_pin(people) -> None:
    spend = people["owner"].get("/spend/?window=24h&group=model").content.decode()
    assert "/dashboard/pin/?metric=cost&amp;group_by=model&amp;window=24h" in spend
    logs = people["member"].get("/logs/").content.decode()
    assert "/dashboard/pin/?metric=requests&amp;group_by=route" in logs
    assert "/dashboard/pin/" not in people["viewer"].get("/logs/").content.decode()


def test_a_boards_tab_answers_htmx_with_that_board_alone(people) -> None:
    PinnedChart.objects.create(team=people["blue"], metric="cost", group_by="model")
    answer = people["owner"].get(
        f"/?board={people['blue'].pk}", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="pinned-board"
    )
    html = answer.content.decode()
    assert html.lstrip().startswith('<section id="pinned-board"') and "Cost by model" in html
    assert 'id="dashboard-body"' not in html
