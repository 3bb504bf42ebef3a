"""Fixtures of the evaluations' tests: the journal recorded in memory, a registry prompt
with two versions and a dataset whose rows fill its variables, and the annotation
queues' world (a team's logged requests, score configs, a lead and two editors)."""

from __future__ import annotations

from typing import Any

import pytest

from console.evals import datasets
from console.evals.models import Dataset
from console.evals.parsing import ParsedRow
from gateway.access import registry
from gateway.features.prompts import versions
from gateway.models import ApiKey, Prompt, ScoreConfig, Team

from ..playground_support import make_echo_routes, make_user
from .queue_support import logged, user


@pytest.fixture
def triage(transactional_db) -> tuple[Prompt, Dataset]:
    """``support.triage`` by eve: v1 a user message of ``{{topic}}`` and ``{{input}}`` on
    route ``fast``, v2 a system prompt only; ``tickets``: three rows with a topic each."""
    make_echo_routes({"fast": {}, "judge": {"reply": "Score: 8"}})
    user = make_user("eve", staff=True)
    prompt, _ = versions.create(
        "support.triage",
        versions.draft([{"role": "user", "content": "Topic {{topic}}: {{input}}"}], "fast"),
        user=user,
        labels=("production",),
    )
    # v2: a system prompt only, so each row's own conversation follows it
    versions.add_version(prompt, versions.draft([{"role": "system", "content": "Be terse."}]))
    registry.rebuild()  # the snapshot the request path reads the prompt from
    rows = [
        ParsedRow(
            [{"role": "user", "content": f"q{i}"}],
            reference=f"Echo: Topic t{i}: q{i}",
            metadata={"topic": f"t{i}"},
        )
        for i in range(3)
    ]
    return prompt, datasets.create("tickets", rows)


@pytest.fixture
def world(db) -> dict[str, Any]:
    team = Team.objects.create(name="alpha")
    key = ApiKey.objects.create(name="k", prefix="sy-k", key_hash="a" * 64, team=team)
    logs = [logged(f"r-{i}", f"question {i}", f"answer {i}", key_id=key.pk, key_name="k",
                   session="s-1" if i < 2 else "") for i in range(4)]  # fmt: skip
    outsider = logged("r-out", "not yours", "no", route="other")
    quality = ScoreConfig.objects.create(
        name="quality", data_type="numeric", min_value=1, max_value=5
    )
    verdict = ScoreConfig.objects.create(name="verdict", data_type="categorical",
                                         categories=["correct", "wrong"])  # fmt: skip
    return {"team": team, "logs": logs, "outsider": outsider, "quality": quality,
            "verdict": verdict, "lead": user("lena", "admin"),
            "editor": user("eddie", "editor", team), "editor2": user("erin", "editor", team)}  # fmt: skip
