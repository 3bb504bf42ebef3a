"""The "Pin a chart" form: a board, a metric, a dimension and a window, the choices of
``PinnedChart``; the boards offered are those its reader may pin to (rule
``dashboard.pin``: owners and admins every board, the global one first; editors and
members their own teams')."""

from __future__ import annotations

from typing import Any

from django import forms

from gateway.access import roles
from gateway.features.dashboards import save
from gateway.models import PinnedChart, Team

PIN_FIELDS = ("metric", "group_by", "window")  # what a link may prefill (Spend, Logs)


class PinForm(forms.Form):
    """A chart to pin: its board (``team``; empty: the global board, owners and admins),
    metric, dimension and window."""

    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, label="Board", empty_label="Global board"
    )
    metric = forms.ChoiceField(choices=PinnedChart.Metric.choices)
    group_by = forms.ChoiceField(choices=PinnedChart.GroupBy.choices, label="Group by")
    window = forms.ChoiceField(choices=PinnedChart.Window.choices, initial="24h")

    def __init__(self, actor: roles.Actor, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        team = self.fields["team"]
        assert isinstance(team, forms.ModelChoiceField)
        if actor.everywhere:
            team.queryset = save.boards(actor)
        else:  # their own teams' boards, never the global one
            team.queryset = save.boards(actor).filter(
                pk__in=actor.team_ids(roles.EDITOR, roles.MEMBER)
            )
            team.required = True
            team.empty_label = None
