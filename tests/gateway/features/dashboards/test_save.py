"""Pinning, unpinning and moving charts (``save``): a board is kept in order, a move
swaps neighbours, an unpin drops the chart, and a full board refuses one more."""

from __future__ import annotations

from gateway.models import PinnedChart
from gateway.models.dashboards import MAX_PER_BOARD

PIN = {"metric": "requests", "group_by": "route", "window": "24h"}


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


def test_a_board_holds_at_most_its_charts(people) -> None:
    red = people["red"]
    PinnedChart.objects.bulk_create(
        [PinnedChart(team=red, position=i, **PIN) for i in range(MAX_PER_BOARD)]
    )
    answer = people["member"].post("/dashboard/pin/", {**PIN, "team": red.pk})
    assert answer.status_code == 422 and b"at most" in answer.content
    assert PinnedChart.objects.count() == MAX_PER_BOARD
