"""The agents and every key's A2A grant in the snapshot (``gateway.features.a2a.snapshot``):
a key's own ``a2a_allowed`` within its team's (a team without a list does not restrict;
``*`` every agent), an agent's entry with its bearer decrypted, and an OAuth agent as the
target the OAuth machinery reads (its JSON-RPC interface, its client secret resolved)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from gateway.access import registry
from gateway.base.entries import MASTER, Snapshot
from gateway.base.secrets import crypto
from gateway.features.a2a import snapshot
from gateway.models import A2aAgent, ApiKey, Team

CARD: dict[str, Any] = {
    "name": "sso",
    "supportedInterfaces": [
        {
            "url": "https://agents.example/rest",
            "protocolBinding": "HTTP+JSON",
            "protocolVersion": "1.0",
        },
        {
            "url": "https://agents.example/rpc",
            "protocolBinding": "JSONRPC",
            "protocolVersion": "1.0",
        },
    ],
}


def test_a_keys_agents_within_its_teams() -> None:
    star, echo, both = frozenset({"*"}), frozenset({"echo"}), frozenset({"echo", "slow"})
    assert snapshot.within(echo, None) == echo  # no team bound
    assert snapshot.within(echo, star) == echo
    assert snapshot.within(star, both) == both  # * within the team's names
    assert snapshot.within(both, echo) == echo
    assert snapshot.within(frozenset({"ghost"}), echo) == frozenset()
    assert snapshot.names(["a", 3]) == {"a", "3"}
    assert snapshot.names(None) == frozenset() and snapshot.names("echo") == frozenset()


@pytest.mark.django_db
def test_the_part_loads_agents_and_grants() -> None:
    red = Team.objects.create(name="red", a2a_allowed=["echo"])
    blue = Team.objects.create(name="blue")  # no list: no bound
    made = {}
    for name, team, grant in (
        ("wide", red, ["*"]),
        ("out", red, ["slow"]),
        ("free", blue, ["slow"]),
        ("alone", None, ["*"]),
        ("none", None, []),
    ):
        made[name] = ApiKey.objects.create(
            name=name, prefix=f"sy-{name}", key_hash=name * 16, team=team, a2a_allowed=grant
        ).pk
    A2aAgent.objects.create(
        name="echo",
        url="https://agents.example/echo",
        card={"name": "echo"},
        auth="bearer",
        bearer_ciphertext=crypto.encrypt("s3cret"),
        price_usd=Decimal("0.5"),
        run_budget_usd=Decimal("2"),
    )
    part = snapshot.load()
    entry = part.agents["echo"]
    assert entry.bearer == "s3cret" and entry.bearer_ref == ""
    assert entry.price_usd == Decimal("0.5") and entry.run_budget_usd == Decimal("2")
    assert entry.session_budget_usd is None and entry.card == {"name": "echo"}
    assert part.grants == {
        made["wide"]: {"echo"},
        made["free"]: {"slow"},
        made["alone"]: {"*"},
    }  # a key granted nothing has no entry


def test_granted_reads_the_installed_part(snapshot_reset: None) -> None:
    key = dataclasses.replace(MASTER, id=5, name="k")
    registry.install(
        Snapshot(parts={snapshot.PART: snapshot.Part(grants={5: frozenset({"echo"})})})
    )
    assert snapshot.granted(key) == {"echo"}
    assert snapshot.granted(dataclasses.replace(key, id=6)) == frozenset()
    assert snapshot.granted(MASTER) == {"*"}
    registry.install(Snapshot())  # no part built: nothing granted
    assert snapshot.current() is snapshot.EMPTY
    assert snapshot.granted(key) == frozenset()


@pytest.mark.django_db
def test_an_oauth_agent_is_an_oauth_target(
    snapshot_reset: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AGENT_CLIENT_SECRET", "shh")
    sso = A2aAgent.objects.create(
        name="sso",
        url="https://agents.example/",
        card=CARD,
        auth="oauth",
        oauth_client_id="cid",
        oauth_client_secret_ref="os.environ/AGENT_CLIENT_SECRET",
        oauth_scopes="read",
    )
    plain = A2aAgent.objects.create(name="plain", url="https://agents.example/p", card={})
    registry.install(Snapshot(parts={snapshot.PART: snapshot.load()}))
    target = snapshot.oauth_target(sso.pk)
    assert target is not None
    assert (target.kind, target.id, target.name) == ("agent", sso.pk, "sso")
    assert target.url == "https://agents.example/rpc"  # its JSON-RPC interface first
    assert (target.oauth_client_id, target.oauth_client_secret) == ("cid", "shh")
    assert target.oauth_scopes == "read" and target.page == snapshot.CONNECT_PATH
    assert snapshot.oauth_target(plain.pk) is None  # not an OAuth agent
    assert snapshot.oauth_target(10_000) is None
    # an agent whose card lists no interface on its host is asked at its registered URL
    bare = snapshot.entry_of(A2aAgent(pk=9, name="bare", url="https://agents.example/b", card={}))
    assert bare.oauth_target().url == "https://agents.example/b"
