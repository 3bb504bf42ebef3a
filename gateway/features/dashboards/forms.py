"""The "Pin a chart" form: a board, a metric, a dimension and a window, the choices of
``PinnedChart``; the boards offered are those its reader may pin to (rule
``dashboard.pin``: owners and admins every board, the global one first; editors and
members their own teams')."""

from __future__ import annotations

from typing import Any

from django import forms

from gateway.access import roles
from gateway.features.dashboards import save
from gateway.models import PinnedChart, ScoreConfig, Team

PIN_FIELDS = ("metric", "group_by", "window", "score_name")  # what a link may prefill (Spend, Logs)


class PinForm(forms.Form):
    """A chart to pin: its board (``team``; empty: the global board, owners and admins),
    metric, dimension and window, and for a chart of scores the score it averages (offered:
    the numeric and boolean score configs' names; any score's name is taken)."""

    team = forms.ModelChoiceField(
        queryset=Team.objects.none(), required=False, label="Board", empty_label="Global board"
    )
    metric = forms.ChoiceField(choices=PinnedChart.Metric.choices)
    group_by = forms.ChoiceField(choices=PinnedChart.GroupBy.choices, label="Group by")
    window = forms.ChoiceField(choices=PinnedChart.Window.choices, initial="24h")
    score_name = forms.CharField(
        required=False,
        max_length=100,
        label="Score",
        help_text="A chart of scores: the one score it averages, shown on that score's scale.",
        widget=forms.TextInput(attrs={"list": "pin-score-names", "autocomplete": "off"}),
    )

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
        averaged = ScoreConfig.objects.exclude(data_type=ScoreConfig.DataType.CATEGORICAL)
        self.score_names = list(averaged.values_list("name", flat=True))
