"""Per-model parameter rules: what a model's upstream does with one request parameter,
declared as data on its catalog entry (``rules`` in ``models.json``) and applied by the
gateway before the call (``gateway.core.mediation``), each change noted "lost in
translation".

A rule names a parameter by its canonical path (``temperature``, ``top_p``, ``top_k``,
``max_tokens``, ``reasoning.effort``, ``reasoning.budget_tokens``; any other name is a
body field the caller sent as is) and says one of:

- ``{"accept": true}``: the model takes it (a declaration, for the table to be whole);
- ``{"reject": true}``: the model answers 400 to it: dropped (refused on a strict route);
- ``{"reject_unless": {"reasoning.effort": ["none"]}}``: rejected unless the request
  sets one of these values (a value the request does not give never matches: GPT-6-class
  models on the Responses API, whose ``temperature`` is a 400 unless reasoning effort is
  ``none``, get it dropped when the effort is not said);
- ``{"rename": "max_completion_tokens"}``: sent under the upstream's name (bodies
  passed through as they are; a translated body is named by its codec already);
- ``{"clamp": [low, high]}``: a number brought within the range;
- ``{"map": "adaptive"}``: ``reasoning.budget_tokens`` only: the model takes adaptive
  thinking only (Claude Opus 4.7+), so a budget becomes adaptive thinking at the effort
  nearest to it.

A model with no rules costs nothing: the entry's ``rules`` is an empty tuple.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Action = Literal["accept", "reject", "reject_unless", "rename", "clamp", "map"]
ACTIONS: tuple[Action, ...] = ("accept", "reject", "reject_unless", "rename", "clamp", "map")
# What a ``map`` rule may turn a parameter into, by parameter.
MAPPINGS = {"reasoning.budget_tokens": frozenset({"adaptive"})}
# Reasoning efforts and the thinking budget each stands for (Anthropic's buckets).
EFFORT_BUDGETS = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 24576}


class RuleError(ValueError):
    """A malformed rule; the message names where."""


@dataclass(frozen=True, slots=True)
class ParamRule:
    name: str
    action: Action
    # reject_unless: (field, the values that let the parameter through), each field
    unless: tuple[tuple[str, tuple[str, ...]], ...] = ()
    to: str = ""  # rename: the upstream's name; map: what it becomes
    low: float | None = None  # clamp
    high: float | None = None

    def why(self) -> str:
        """The reason a note gives for what the rule did."""
        if self.action == "reject":
            return "the model refuses it"
        if self.action == "reject_unless":
            said = "; ".join(f"{field} is {' or '.join(values)}" for field, values in self.unless)
            return f"the model refuses it unless {said}"
        if self.action == "rename":
            return f"sent as {self.to}, the model's name for it"
        if self.action == "clamp":
            return f"brought within [{self.low:g}, {self.high:g}], what the model takes"
        if self.action == "map":
            return "the model takes adaptive thinking only"
        return "accepted"

    def to_json(self) -> Any:
        if self.action in ("accept", "reject"):
            return {self.action: True}
        if self.action == "reject_unless":
            return {self.action: {field: list(values) for field, values in self.unless}}
        if self.action == "clamp":
            return {self.action: [self.low, self.high]}
        return {self.action: self.to}


def nearest_effort(budget: int) -> str:
    """The effort whose thinking budget is nearest ``budget`` (on a log scale: 3000 is
    nearer 2048 than 8192)."""
    target = math.log(max(budget, 1))
    return min(EFFORT_BUDGETS, key=lambda e: abs(math.log(EFFORT_BUDGETS[e]) - target))


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise RuleError(f"{where}: must be a number, got {value!r}")
    return float(value)


def rule_from_json(name: str, data: Any, where: str) -> ParamRule:
    """One rule from its file form (``{action: argument}``)."""
    if not isinstance(data, dict) or len(data) != 1:
        raise RuleError(f"{where}: must be an object with one of {', '.join(ACTIONS)}")
    ((action, arg),) = data.items()
    if action not in ACTIONS:
        raise RuleError(f"{where}: unknown action {action!r} (one of {', '.join(ACTIONS)})")
    if action in ("accept", "reject"):
        if arg is not True:
            raise RuleError(f"{where}.{action}: must be true")
        return ParamRule(name, action)
    if action == "reject_unless":
        if not isinstance(arg, dict) or not arg:
            raise RuleError(f"{where}.reject_unless: must be an object of field -> values")
        unless = []
        for field, values in arg.items():
            if isinstance(values, str):
                values = [values]
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise RuleError(f"{where}.reject_unless.{field}: must be a list of values")
            unless.append((str(field), tuple(values)))
        return ParamRule(name, action, unless=tuple(unless))
    if action == "clamp":
        if not isinstance(arg, list) or len(arg) != 2:
            raise RuleError(f"{where}.clamp: must be [low, high]")
        low, high = _number(arg[0], f"{where}.clamp[0]"), _number(arg[1], f"{where}.clamp[1]")
        if low > high:
            raise RuleError(f"{where}.clamp: low is above high")
        return ParamRule(name, action, low=low, high=high)
    if not isinstance(arg, str) or not arg:
        raise RuleError(f"{where}.{action}: must be a name")
    if action == "map" and arg not in MAPPINGS.get(name, ()):
        raise RuleError(f"{where}.map: {name} cannot be mapped to {arg!r}")
    return ParamRule(name, action, to=arg)


def rules_from_json(data: Any, where: str) -> tuple[ParamRule, ...]:
    """An entry's ``rules`` object (parameter -> rule) as rules, in the file's order."""
    if data is None:
        return ()
    if not isinstance(data, dict):
        raise RuleError(f"{where}: must be an object of parameter -> rule")
    return tuple(rule_from_json(str(k), v, f"{where}.{k}") for k, v in data.items())
