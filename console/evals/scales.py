"""How a scorer's value reads to a person. Every scorer keeps a value in [0, 1]
(``scorers``); a header that says "Judge (1–10)" over a cell that says 0.80 makes the
reader do the sum. A scale turns the stored value back into the scorer's own words:

- a score config (``gateway.models.ScoreConfig``) named as the scorer is: numeric with
  both ends, the value spread over the range as a judge's grade is stored on a logged
  request (``gateway.telemetry.scores.judged``: low + value × (high − low)), "8.2 / 10";
  boolean, true from 0.5 (a mean: the share that is true); numeric with an open end or
  categorical (a scorer gives no category), the value as stored;
- without a config, by the scorer's kind: a pointwise judge's grade out of 10
  ("8 / 10"); a pairwise judge's win, tie or loss (a mean: the win rate); the pass/fail
  kinds (exact, contains, regex, JSON, numeric) pass or fail (a mean: the share that
  passed); similarity as the cosine it is.

``show`` is for one cell, ``show_mean`` for a column's mean; None is "—" for both."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from console.evals.scorers import name_of
from gateway.models import ScoreConfig

PASS_FAIL = ("exact", "contains", "regex", "json_valid", "json_schema", "numeric")
NONE = "—"


def _number(value: float) -> str:
    """At most one decimal, none when whole: 8, 8.2, 0.5."""
    rounded = round(value, 1)
    return f"{rounded:g}" if rounded != int(rounded) else str(int(rounded))


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


@dataclass(frozen=True, slots=True)
class Scale:
    """``kind``: range (``low``..``high``), boolean, grade (1–10), verdict (pairwise),
    pass (pass/fail) or plain (the value as stored)."""

    kind: str
    low: float | None = None
    high: float | None = None
    config: str = ""  # the config's name, when one governs the scorer

    def show(self, value: float | None) -> str:
        if value is None:
            return NONE
        if self.kind == "range" and self.low is not None and self.high is not None:
            return f"{_number(self.low + value * (self.high - self.low))} / {_number(self.high)}"
        if self.kind == "boolean":
            return "true" if value >= 0.5 else "false"
        if self.kind == "grade":
            return f"{_number(value * 10)} / 10"
        if self.kind == "verdict":
            return "win" if value > 0.5 else "loss" if value < 0.5 else "tie"
        if self.kind == "pass":
            return "pass" if value >= 0.5 else "fail"
        return f"{value:.2f}"

    def show_mean(self, value: float | None) -> str:
        if value is None:
            return NONE
        if self.kind == "boolean":
            return f"{_percent(value)} true"
        if self.kind == "verdict":
            return f"{_percent(value)} wins"
        if self.kind == "pass":
            return f"{_percent(value)} pass"
        if self.kind in ("range", "grade"):
            return self.show(value)
        return f"{value:.3f}"

    @property
    def words(self) -> str:
        """What the scale is, for a header's title: "1 to 10 (quality)", "out of 10"."""
        if self.kind == "range":
            return f"{_number(self.low or 0)} to {_number(self.high or 0)} ({self.config})"
        if self.kind == "boolean":
            return f"true or false ({self.config})"
        return {
            "grade": "the judge's grade out of 10",
            "verdict": "against the baseline: win, tie or loss",
            "pass": "pass or fail",
        }.get(self.kind, "as stored, 0 to 1")


def scale_of(scorer: dict[str, Any], config: ScoreConfig | None = None) -> Scale:
    """The scale of ``scorer`` (``config``: the one named as the scorer, if any)."""
    if config is not None:
        if config.data_type == ScoreConfig.DataType.BOOLEAN:
            return Scale("boolean", config=config.name)
        if (
            config.data_type == ScoreConfig.DataType.NUMERIC
            and config.min_value is not None
            and config.max_value is not None
        ):
            return Scale("range", config.min_value, config.max_value, config.name)
        return Scale("plain", config=config.name)
    kind = scorer.get("kind")
    if kind == "judge":
        return Scale("verdict" if scorer.get("mode") == "pairwise" else "grade")
    if kind in PASS_FAIL:
        return Scale("pass")
    return Scale("plain")


def scales(scorers: Iterable[dict[str, Any]]) -> dict[str, Scale]:
    """Each scorer's scale by its name (one query for the configs that name any)."""
    listed = list(scorers)
    names = [name_of(s) for s in listed]
    configs = {c.name: c for c in ScoreConfig.objects.filter(name__in=names)} if names else {}
    return {name_of(s): scale_of(s, configs.get(name_of(s))) for s in listed}
