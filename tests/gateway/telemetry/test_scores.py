"""Scores (``gateway.telemetry.scores``): a judge's grade is spread over its config's
range."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.access import keys, registry
from gateway.models import ApiKey, RequestLog, ScoreConfig, Team
from gateway.telemetry import scores

MASTER = "sy-master-score-configs-test"


@pytest.fixture
def world(db, settings, snapshot_reset) -> dict[str, Any]:
    settings.SWITCHYARD_MASTER_KEY = MASTER
    team = Team.objects.create(name="alpha")
    app = keys.create_key(name="app", team=team)
    log = RequestLog.objects.create(request_id="req-1", dialect="openai", endpoint="chat",
                                    route="chat", status=200,
                                    key_id=ApiKey.objects.get(name="app").pk, key_name="app")  # fmt: skip
    registry.rebuild()
    return {"app": app.raw, "log": log}


def test_a_judges_grade_is_spread_over_the_range(world) -> None:
    ScoreConfig.objects.create(name="quality", data_type="numeric", min_value=1, max_value=5)
    ScoreConfig.objects.create(name="verdict", data_type="categorical", categories=["a", "b"])
    ScoreConfig.objects.create(name="safe", data_type="boolean")
    assert scores.judged("quality", 0.75).value == 4.0
    assert scores.judged("safe", 0.6) == scores.Given("safe", 1.0, "true", "")
    assert scores.judged("free", 0.3).value == 0.3
    with pytest.raises(scores.ScoreError) as refused:
        scores.judged("verdict", 0.5)
    assert refused.value.field == "score_name" and "categorical" in str(refused.value)
