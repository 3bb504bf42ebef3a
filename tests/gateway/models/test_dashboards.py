"""``PinnedChart`` (``gateway.models.dashboards``): a chart of scores names the one score it
averages, never a categorical one; another metric names none; the title says what is
drawn by what."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gateway.models import PinnedChart, ScoreConfig


def chart(**fields) -> PinnedChart:  # type: ignore[no-untyped-def]
    return PinnedChart(**{"metric": "requests", "group_by": "route", **fields})


def test_the_title_says_the_metric_by_the_dimension() -> None:
    assert chart().title == "Requests by route"
    assert str(chart()) == "Requests by Route"
    assert chart(metric="score", score_name="helpful").title == "Average helpful by route"
    assert chart(metric="score").measure == "Average score"


@pytest.mark.django_db
def test_a_chart_of_scores_names_one_numeric_or_boolean_score() -> None:
    with pytest.raises(ValidationError) as missing:
        chart(metric="score").clean()
    assert "needs the score it averages" in str(missing.value.message_dict["score_name"])
    ScoreConfig.objects.create(name="topic", data_type=ScoreConfig.DataType.CATEGORICAL)
    with pytest.raises(ValidationError, match="categorical"):
        chart(metric="score", score_name="topic").clean()
    ScoreConfig.objects.create(name="grade", data_type=ScoreConfig.DataType.NUMERIC)
    chart(metric="score", score_name="grade").clean()
    chart(metric="score", score_name="not-configured-yet").clean()  # any score's name


def test_another_metric_names_no_score() -> None:
    with pytest.raises(ValidationError, match="only a chart of scores names a score"):
        chart(score_name="grade").clean()
    chart().clean()
