"""The one authorization decision (``gateway.access.authorization``): an action nobody
registered is refused, so a new path is never open by mistake; a registered rule decides
and its docstring is its line in the table; one action has one rule; ``require`` raises
``Denied`` with the caller-facing reason."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from gateway.access import authorization
from gateway.access.authorization import ALLOW, Decision, Denied, decide, deny, require, rule


@pytest.fixture
def rules(monkeypatch) -> Iterator[dict[str, Any]]:
    """Empty tables for the test's rules; the app's rules are back afterwards."""
    monkeypatch.setattr(authorization, "RULES", {})
    monkeypatch.setattr(authorization, "DESCRIPTIONS", {})
    yield authorization.RULES


def test_an_action_nobody_registered_is_refused(rules) -> None:
    decision = decide("anyone", "vault.open")
    assert not decision and decision.reason == "nobody may vault.open"
    with pytest.raises(Denied) as refused:
        require("anyone", "vault.open")
    assert refused.value.action == "vault.open" and refused.value.reason == "nobody may vault.open"


def test_a_registered_rule_decides_on_the_actor_and_the_resource(rules) -> None:
    @rule("door.open")
    def door_open(actor: Any, door: Any) -> Decision:
        """Whoever holds the door's key."""
        return ALLOW if door == f"{actor}'s door" else deny("not your door")

    assert decide("ada", "door.open", "ada's door") is ALLOW
    refusal = decide("ada", "door.open", "bob's door")
    assert (refusal.allowed, refusal.reason) == (False, "not your door")
    require("ada", "door.open", "ada's door")  # allowed: no exception
    with pytest.raises(Denied, match="not your door"):
        require("ada", "door.open", "bob's door")
    assert authorization.DESCRIPTIONS["door.open"] == "Whoever holds the door's key."


def test_a_refusal_without_a_reason_still_says_what_was_refused(rules) -> None:
    rule("door.lock")(lambda actor, resource: Decision(False))
    with pytest.raises(Denied) as refused:
        require("ada", "door.lock")
    assert refused.value.reason == "not allowed to door.lock"


def test_two_rules_for_one_action_are_an_error(rules) -> None:
    rule("door.open")(lambda actor, resource: ALLOW)
    with pytest.raises(RuntimeError, match="two rules for 'door.open'"):
        rule("door.open")(lambda actor, resource: ALLOW)


def test_a_decision_is_truthy_only_when_allowed() -> None:
    assert ALLOW and ALLOW.allowed
    assert not deny("no") and deny("no").reason == "no"


def test_the_apps_rules_are_registered_with_their_descriptions() -> None:
    """The app's rules packages register at start; each has its line for the table."""
    assert "dashboard.pin" in authorization.RULES
    assert all(authorization.DESCRIPTIONS[action] for action in authorization.RULES)
