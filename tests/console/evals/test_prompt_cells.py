"""A prompt column's request for one dataset row (``console.evals.prompt_cells``): the
prompt named by reference, its variables from the row's metadata (a nested
``variables`` object too; other values as JSON) and ``{{input}}`` from the row's own
prompt; a version with its own user message is sent alone, one without is followed by
the row's conversation and system prompt."""

from __future__ import annotations

from typing import Any

from console.evals import prompt_cells
from console.evals.models import DatasetRow


def row(metadata: Any = None) -> DatasetRow:
    return DatasetRow(
        index=0,
        version=1,
        messages=[{"role": "user", "content": "first"}, {"role": "user", "content": "why?"}],
        system="be kind",
        metadata=metadata if metadata is not None else {},
    )


def test_variables_come_from_the_metadata_and_the_rows_prompt() -> None:
    values = prompt_cells.variables_of(
        row({"topic": "billing", "n": 3, "skip": None, "variables": {"lang": "fr", "t": [1]}})
    )
    assert values == {"topic": "billing", "n": "3", "lang": "fr", "t": "[1]", "input": "why?"}
    assert prompt_cells.variables_of(row({"input": "mine"}))["input"] == "mine"
    assert prompt_cells.variables_of(row(["not", "a", "mapping"])) == {"input": "why?"}


def test_the_body_names_the_prompt_and_sends_the_conversation_only_without_its_own() -> None:
    calls: list[tuple[Any, ...]] = []

    def build(*args: Any) -> dict[str, Any]:
        calls.append(args)
        return {"model": args[1]}

    column = {"route": "fast", "prompt": {"name": "triage", "version": "2", "own": True}}
    made = prompt_cells.body(column, row({"topic": "x"}), build, {"temperature": 0})
    assert made == {
        "model": "fast",
        "prompt_id": "triage",
        "prompt_version": 2,
        "prompt_variables": {"topic": "x", "input": "why?"},
    }
    assert calls[-1] == ("openai", "fast", "", [], {"temperature": 0}, [])
    prompt_cells.body({**column, "prompt": {"name": "triage", "version": 1}}, row(), build, None)
    assert calls[-1][2] == "be kind" and calls[-1][3] == row().messages
