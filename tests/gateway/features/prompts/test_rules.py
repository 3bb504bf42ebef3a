"""Who changes a registry prompt (owners and admins any; editors and members a new one
and their own; viewers none) and who uses one by reference (any key, no console user),
and the field table of prompts."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from gateway.access import authorization, field_rules, roles
from gateway.base.entries import MASTER
from gateway.features.prompts import rules

OWNER, ADMIN, EDITOR, MEMBER, VIEWER = roles.ROLES
MINE = SimpleNamespace(created_by_id=7)
THEIRS = SimpleNamespace(created_by_id=8)


@pytest.mark.parametrize(
    ("role", "prompt", "allowed"),
    [
        (OWNER, THEIRS, True),
        (ADMIN, THEIRS, True),
        (EDITOR, None, True),  # a new prompt
        (EDITOR, MINE, True),
        (EDITOR, THEIRS, False),
        (MEMBER, MINE, True),
        (MEMBER, THEIRS, False),
        (MEMBER, SimpleNamespace(), False),  # no author known
        (VIEWER, None, False),
        (None, None, False),
    ],
)
def test_prompt_change(role: str | None, prompt: object, allowed: bool) -> None:
    decision = authorization.decide(roles.Actor(role=role, user_id=7), "prompt.change", prompt)
    assert decision.allowed is allowed
    assert allowed or decision.reason


def test_an_actor_without_a_user_changes_only_new_prompts() -> None:
    nobody = roles.Actor(role=EDITOR, user_id=None)
    assert rules.prompt_change(nobody, None)
    assert not rules.prompt_change(nobody, SimpleNamespace(created_by_id=None))


def test_a_key_is_no_actor_that_changes_prompts() -> None:
    assert not rules.prompt_change(MASTER, None)


def test_prompt_use_is_for_keys_only() -> None:
    assert authorization.decide(MASTER, "prompt.use", "support.triage")
    refused = authorization.decide(roles.Actor(role=OWNER), "prompt.use", "support.triage")
    assert not refused and "used with a key" in refused.reason


def test_members_write_every_field_of_their_prompts() -> None:
    sent = {"name": "p", "messages": [], "labels": ["production"], "version": 2}
    assert field_rules.refusals(roles.Actor(role=MEMBER), "prompts", sent) == {}
    assert field_rules.refusals(roles.Actor(role=VIEWER), "prompts", {"name": "p"})
    assert field_rules.FIELDS["prompts"]["messages"].rule == "prompt.change"
