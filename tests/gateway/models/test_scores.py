"""Scores and their configs (``gateway.models.scores``): a score reads as its value or its
label; a config says in words what it accepts."""

from __future__ import annotations

from gateway.models.scores import Score, ScoreConfig


def test_a_score_reads_as_its_value_or_its_label() -> None:
    assert str(Score(name="thumbs", value=1.0, label="up")) == "thumbs=1.0"
    assert str(Score(name="topic", label="billing")) == "topic=billing"


def config(data_type: str, **fields) -> ScoreConfig:  # type: ignore[no-untyped-def]
    return ScoreConfig(name="q", data_type=data_type, **fields)


def test_a_config_says_what_it_accepts_in_words() -> None:
    numeric = ScoreConfig.DataType.NUMERIC
    assert config(numeric, min_value=1, max_value=5).range_text == "1 to 5"
    assert config(numeric, min_value=0.5).range_text == "at least 0.5"
    assert config(numeric, max_value=10).range_text == "at most 10"
    assert config(numeric, min_value=0, max_value=1).range_text == "0 to 1"
    assert config(numeric).range_text == "any number"
    assert config("categorical", categories=["correct", "wrong"]).range_text == "correct, wrong"
    assert config("boolean").range_text == "true or false"
    assert str(config("boolean")) == "q"
