"""Fixtures of the evaluations' tests: the journal recorded in memory, and a registry
prompt with two versions and a dataset whose rows fill its variables."""

from __future__ import annotations

import pytest

from console.evals import datasets
from console.evals.models import Dataset
from console.evals.parsing import ParsedRow
from gateway import journal
from gateway.access import registry
from gateway.base import lifecycle
from gateway.features.prompts import versions
from gateway.models import Prompt

from ..playground_support import JournalRecorder, make_echo_routes, make_user


@pytest.fixture
def recorder(monkeypatch: pytest.MonkeyPatch) -> JournalRecorder:
    rec = JournalRecorder()
    monkeypatch.setattr(journal, "record", rec)

    async def started() -> None:
        return None

    monkeypatch.setattr(lifecycle, "ensure_started", started)
    return rec


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
