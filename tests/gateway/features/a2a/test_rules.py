"""Who may call which agent (``gateway.features.a2a.rules``): a key's ``a2a_allowed`` (set through /api/keys) within its
team's bound (/api/teams), read from the snapshot with no query; ``*`` and names; the
extended card only for a grant by name; the master key everything. And who may connect
their own OAuth account to an agent."""

from __future__ import annotations

import pytest
from django.test import Client

from gateway.access import registry, roles
from gateway.access.authorization import decide
from gateway.base.entries import MASTER
from gateway.features.a2a import rules, snapshot
from gateway.models import A2aAgent

MASTER_RAW = "sy-master-a2a-grants"


def entry(name: str):  # type: ignore[no-untyped-def]
    return next(k for k in registry.current().keys.values() if k.name == name)


@pytest.mark.django_db(transaction=True)
def test_a_keys_grant_is_bounded_by_its_team(settings) -> None:
    settings.SWITCHYARD_MASTER_KEY = MASTER_RAW
    api = Client(HTTP_AUTHORIZATION=f"Bearer {MASTER_RAW}")
    team = api.post(
        "/api/teams/", {"name": "red", "a2a_allowed": ["echo", "slow"]},
        content_type="application/json",
    )  # fmt: skip
    assert team.status_code == 201, team.content
    assert team.json()["a2a_allowed"] == ["echo", "slow"]
    for name, team_name, grant in (
        ("wide", "red", ["*"]),
        ("named", "red", ["echo", "ghost"]),
        ("alone", None, ["ghost"]),
        ("none", None, []),
        ("star", None, ["*"]),
    ):
        made = api.post(
            "/api/keys/", {"name": name, "team": team_name, "a2a_allowed": grant},
            content_type="application/json",
        )  # fmt: skip
        assert made.status_code == 201, made.content
        assert made.json()["a2a_allowed"] == grant
    bad = api.post(
        "/api/keys/", {"name": "bad", "a2a_allowed": ["no spaces!"]},
        content_type="application/json",
    )  # fmt: skip
    assert bad.status_code == 422
    registry.rebuild()
    assert snapshot.granted(entry("wide")) == {"echo", "slow"}  # * within the team's
    assert snapshot.granted(entry("named")) == {"echo"}
    assert snapshot.granted(entry("alone")) == {"ghost"}  # no team: its own list
    assert snapshot.granted(entry("none")) == frozenset()
    assert decide(entry("named"), "a2a.agent.call", "echo")
    assert not decide(entry("named"), "a2a.agent.call", "slow")
    assert decide(entry("named"), "a2a.card.extended", "echo")
    assert decide(entry("star"), "a2a.agent.call", "echo")
    assert not decide(entry("star"), "a2a.card.extended", "echo")  # * reaches cards only
    assert decide(MASTER, "a2a.agent.call", "anything")
    # the team narrowed: its keys follow at the next snapshot
    team_id = team.json()["id"]
    patched = api.patch(
        f"/api/teams/{team_id}", {"a2a_allowed": []}, content_type="application/json"
    )
    assert patched.status_code == 200, patched.content
    registry.rebuild()
    assert snapshot.granted(entry("wide")) == frozenset()


@pytest.mark.parametrize(
    ("actor", "auth", "enabled", "allowed"),
    [
        (roles.Actor("member", user_id=3), "oauth", True, True),
        (roles.Actor("viewer", user_id=3), "oauth", True, True),
        (roles.Actor(None, user_id=3), "oauth", True, False),  # no console access
        (roles.Actor("admin", via="master"), "oauth", True, False),  # nobody's account
        (roles.Actor("member", user_id=3), "bearer", True, False),
        (roles.Actor("member", user_id=3), "oauth", False, False),  # disabled
    ],
)
def test_only_a_signed_in_person_connects_to_an_enabled_oauth_agent(
    actor: roles.Actor, auth: str, enabled: bool, allowed: bool
) -> None:
    agent = A2aAgent(name="echo", auth=auth, enabled=enabled)
    decision = rules.oauth_connect(actor, agent)
    assert bool(decision) is allowed
    assert bool(decide(actor, "a2a.oauth.connect", agent)) is allowed
