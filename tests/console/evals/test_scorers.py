"""Each scorer, the garbage-judge rule and the Wilson interval."""

from __future__ import annotations

import asyncio

import pytest

from console.evals import scorers
from console.evals.scorers import ScorerError, score_sync, validate


def one(kind: str, **options):
    return validate([{"kind": kind, **options}])[0]


def test_exact_contains_regex() -> None:
    assert score_sync(one("exact"), " Paris \n", "Paris") == 1.0
    assert score_sync(one("exact"), "paris", "Paris") == 0.0
    assert score_sync(one("exact", ignore_case=True), "paris", "Paris") == 1.0
    assert score_sync(one("exact"), "anything", "") is None  # nothing to compare with
    assert score_sync(one("contains"), "The capital is PARIS.", "paris") == 1.0
    assert score_sync(one("contains", value="London"), "Paris", "Paris") == 0.0
    assert score_sync(one("regex", pattern=r"^\d{4}-\d{2}$"), "2024-05", "") == 1.0
    assert score_sync(one("regex", pattern=r"^\d{4}$"), "year 2024", "") == 0.0
    with pytest.raises(ScorerError, match="bad regular expression"):
        one("regex", pattern="(")


def test_json_valid_and_schema() -> None:
    assert score_sync(one("json_valid"), '{"a": 1}', "") == 1.0
    assert score_sync(one("json_valid"), '```json\n{"a": 1}\n```', "") == 1.0
    assert score_sync(one("json_valid"), "{a: 1}", "") == 0.0
    schema = {"type": "object", "required": ["age"], "properties": {"age": {"type": "integer"}}}
    scorer = one("json_schema", schema=schema)
    assert score_sync(scorer, '{"age": 3}', "") == 1.0
    assert score_sync(scorer, '{"age": "3"}', "") == 0.0
    assert score_sync(scorer, "not json", "") == 0.0
    assert one("json_schema", schema='{"type": "array"}')["schema"] == {"type": "array"}
    with pytest.raises(ScorerError, match="not a JSON schema"):
        one("json_schema", schema={"type": 12})


def test_numeric_within_tolerance() -> None:
    assert score_sync(one("numeric", tolerance=0.01), "The answer is 3.14159", "3.14") == 1.0
    assert score_sync(one("numeric"), "It is 41", "42") == 0.0
    assert score_sync(one("numeric", tolerance=1), "It is 41", "42") == 1.0
    assert score_sync(one("numeric", tolerance=0.1, relative=True), "1,050", "1000") == 1.0
    assert score_sync(one("numeric"), "no number", "42") == 0.0
    assert score_sync(one("numeric"), "42", "n/a") is None


def test_similarity_cosine_and_failures() -> None:
    scorer = one("similarity", route="embed")

    async def embed(route, texts):
        assert route == "embed"
        return [[1.0, 0.0], [0.6, 0.8]]

    async def broken(route, texts):
        raise RuntimeError("down")

    assert asyncio.run(scorers.similarity(scorer, "a", "b", embed)) == pytest.approx(0.6)
    assert asyncio.run(scorers.similarity(scorer, "a", "b", broken)) is None
    assert asyncio.run(scorers.similarity(scorer, "a", "", embed)) is None
    assert scorers.cosine([1, 2], [1]) is None


def test_pointwise_judge_and_garbage() -> None:
    scorer = one("judge", route="j", rubric="Be strict.")
    prompts = []

    def judge(answer):
        async def chat(route, prompt):
            prompts.append(prompt)
            return answer

        return chat

    assert asyncio.run(scorers.judge_pointwise(scorer, "q", "a", "ref", judge("Score: 8"))) == 0.8
    assert "Be strict." in prompts[-1] and "Reference answer:\nref" in prompts[-1]
    assert asyncio.run(scorers.judge_pointwise(scorer, "q", "a", "", judge("7/10"))) == 0.7
    for garbage in ("I think it is good", "Score: 11", "", "Score: zero"):
        assert asyncio.run(scorers.judge_pointwise(scorer, "q", "a", "", judge(garbage))) is None


def test_pairwise_judge_swaps_positions() -> None:
    scorer = one("judge", route="j", mode="pairwise")
    seen = []

    def always(verdict):
        async def chat(route, prompt):
            seen.append(prompt)
            return f"Verdict: {verdict}"

        return chat

    # A judge that always prefers the first position cancels out to a tie.
    assert asyncio.run(scorers.judge_pairwise(scorer, "q", "cand", "base", "", always("A"))) == 0.5
    first, second = seen[-2], seen[-1]
    assert first.index("base") < first.index("cand") and second.index("cand") < second.index("base")

    async def prefers_candidate(route, prompt):
        a = prompt.split("Answer A:\n")[1].split("\n")[0]
        return "Verdict: A" if a == "cand" else "Verdict: B"

    assert (
        asyncio.run(scorers.judge_pairwise(scorer, "q", "cand", "base", "", prefers_candidate))
        == 1.0
    )
    assert (
        asyncio.run(scorers.judge_pairwise(scorer, "q", "cand", "base", "", always("maybe?")))
        is None
    )


def test_validate_refuses_unknown_and_duplicates() -> None:
    with pytest.raises(ScorerError, match="kind must be one of"):
        validate([{"kind": "vibes"}])
    with pytest.raises(ScorerError, match="needs a route"):
        validate(["judge"])
    with pytest.raises(ScorerError, match="second scorer named"):
        validate(["exact", "exact"])
    with pytest.raises(ScorerError, match="no route named"):
        validate([{"kind": "similarity", "route": "ghost"}], lambda name: False)
