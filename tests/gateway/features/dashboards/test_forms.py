"""The "Pin a chart" form: it offers a member their own teams' boards only (never the
global one, never another team's), and a link may prefill its choices."""

from __future__ import annotations

from gateway.models import PinnedChart

PIN = {"metric": "requests", "group_by": "route", "window": "24h"}


def test_a_member_cannot_pin_to_another_team_nor_the_global_board(people) -> None:
    member = people["member"]
    other = member.post("/dashboard/pin/", {**PIN, "team": people["blue"].pk})
    assert other.status_code == 422  # blue is not among the form's boards
    bare = member.post("/dashboard/pin/", PIN)  # no team: the global board
    assert bare.status_code == 422
    assert not PinnedChart.objects.exists()


def test_the_pin_form_is_prefilled_from_the_query(people) -> None:
    page = people["owner"].get("/dashboard/pin/?metric=cost&group_by=team").content.decode()
    assert '<option value="cost" selected>' in page
    assert '<option value="team" selected>' in page
