"""Rule ``score.write`` (``gateway.access.rules.scores``): a virtual key scores its own
requests only, the master key any; a console user or management key one their role lets
them see (``logs.view``); a role-less account none."""

from __future__ import annotations

from types import SimpleNamespace

from gateway.access import roles
from gateway.access.authorization import decide
from gateway.base.entries import MASTER, KeyEntry

LOG = SimpleNamespace(key_id=7)


def key(key_id: int) -> KeyEntry:
    return KeyEntry(key_id, f"k{key_id}", "sy-k", None, None, None, None, "total", None, False)


def test_a_key_scores_its_own_requests_only() -> None:
    assert decide(key(7), "score.write", LOG)
    refusal = decide(key(8), "score.write", LOG)
    assert not refusal and refusal.reason == "a key may score only its own requests"
    assert not decide(key(7), "score.write", SimpleNamespace(key_id=None))


def test_the_master_key_scores_any_request() -> None:
    assert decide(MASTER, "score.write", LOG)
    assert decide(MASTER, "score.write", SimpleNamespace(key_id=None))


def test_a_console_role_that_sees_logs_scores() -> None:
    for role in roles.ROLES:
        assert decide(roles.Actor(role), "score.write", LOG)
    refusal = decide(roles.NOBODY, "score.write", LOG)
    assert not refusal and refusal.reason == "your role may not score requests"
    assert not decide(object(), "score.write", LOG)
