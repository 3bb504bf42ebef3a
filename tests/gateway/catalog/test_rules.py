"""The catalog's parameter rules in their file form: each action read (and written back
the same), every malformed one a RuleError naming where, the reason a note gives, and
the effort nearest a thinking budget."""

from __future__ import annotations

import pytest

from gateway.catalog.rules import (
    ParamRule,
    RuleError,
    nearest_effort,
    rule_from_json,
    rules_from_json,
)

RULES = {
    "temperature": {"clamp": [0, 1]},
    "top_k": {"reject": True},
    "seed": {"accept": True},
    "max_tokens": {"rename": "max_completion_tokens"},
    "top_p": {"reject_unless": {"reasoning.effort": "none", "mode": ["a", "b"]}},
    "reasoning.budget_tokens": {"map": "adaptive"},
}


def test_every_action_is_read_in_the_files_order_and_written_back_the_same():
    rules = rules_from_json(RULES, "m.rules")
    assert [r.name for r in rules] == list(RULES)
    assert rules[0] == ParamRule("temperature", "clamp", low=0.0, high=1.0)
    assert rules[4].unless == (("reasoning.effort", ("none",)), ("mode", ("a", "b")))
    written = {r.name: r.to_json() for r in rules}
    assert written == {
        **RULES,
        "top_p": {"reject_unless": {"reasoning.effort": ["none"], "mode": ["a", "b"]}},
    }
    assert rules_from_json(None, "m.rules") == ()


def test_the_reason_each_rule_gives():
    why = {r.name: r.why() for r in rules_from_json(RULES, "m")}
    assert why == {
        "temperature": "brought within [0, 1], what the model takes",
        "top_k": "the model refuses it",
        "seed": "accepted",
        "max_tokens": "sent as max_completion_tokens, the model's name for it",
        "top_p": "the model refuses it unless reasoning.effort is none; mode is a or b",
        "reasoning.budget_tokens": "the model takes adaptive thinking only",
    }


@pytest.mark.parametrize(
    ("name", "data", "words"),
    [
        ("t", [], "m.t: must be an object with one of"),
        ("t", {"reject": True, "accept": True}, "m.t: must be an object with one of"),
        ("t", {"drop": True}, "unknown action 'drop'"),
        ("t", {"reject": 1}, "m.t.reject: must be true"),
        ("t", {"reject_unless": {}}, "m.t.reject_unless: must be an object"),
        ("t", {"reject_unless": {"f": [1]}}, "m.t.reject_unless.f: must be a list"),
        ("t", {"clamp": [0]}, "m.t.clamp: must be \\[low, high\\]"),
        ("t", {"clamp": [0, True]}, "m.t.clamp\\[1\\]: must be a number"),
        ("t", {"clamp": [0, float("inf")]}, "m.t.clamp\\[1\\]: must be a number"),
        ("t", {"clamp": [2, 1]}, "low is above high"),
        ("t", {"rename": ""}, "m.t.rename: must be a name"),
        ("t", {"map": "adaptive"}, "m.t.map: t cannot be mapped to 'adaptive'"),
    ],
)
def test_a_malformed_rule_names_where(name, data, words):
    with pytest.raises(RuleError, match=words):
        rule_from_json(name, data, f"m.{name}")


def test_rules_must_be_an_object():
    with pytest.raises(RuleError, match="m.rules: must be an object of parameter"):
        rules_from_json([], "m.rules")


@pytest.mark.parametrize(
    ("budget", "effort"),
    [
        (0, "minimal"),
        (1024, "minimal"),
        (1300, "minimal"),
        (1500, "low"),
        (3000, "low"),
        (5000, "medium"),
        (10**6, "high"),
    ],
)
def test_the_effort_nearest_a_budget_on_a_log_scale(budget, effort):
    assert nearest_effort(budget) == effort
