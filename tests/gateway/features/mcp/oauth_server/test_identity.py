"""Who a client signed in through OAuth acts as (``oauth_server.identity``): the teams a
person may act under with what each opens, their managed ``mcp-oauth`` key per team
(made once, refused once revoked, never sendable), and the entry ``/mcp`` acts with:
that key with the person's grant under its team."""

from __future__ import annotations

import pytest
from django.utils import timezone

from gateway.access import registry
from gateway.features.mcp.oauth_server import identity
from gateway.models import ApiKey


def test_each_team_with_what_it_opens(world) -> None:
    alice, bob = world["users"]["alice"], world["users"]["bob"]
    keys = list(registry.current().keys.values())
    (alpha,) = identity.options(alice.pk, keys)
    assert (alpha.id, alpha.name, alpha.grant) == (
        world["alpha"].pk,
        "alpha",
        frozenset({"web__add"}),
    )
    assert alpha.servers(registry.current()) == [("web", ["add"])]
    (beta,) = identity.options(bob.pk, keys)
    assert beta.servers(registry.current()) == [("local", None)]  # all of its tools
    assert identity.options(alice.pk + bob.pk + 100, keys) == []


def test_the_managed_key_is_made_once_and_refused_once_revoked(world) -> None:
    alice, alpha = world["users"]["alice"], world["alpha"]
    key = identity.signin_key(alice, alpha.pk)
    assert key.name == "mcp-oauth:alice (alpha)" and key.scopes == "mcp-oauth"
    assert key.minted_by_id == alice.pk and key.mcp_allowed == []
    assert identity.signin_key(alice, alpha.pk).pk == key.pk
    none = identity.signin_key(alice, None)
    assert none.pk != key.pk and none.name == "mcp-oauth:alice"
    ApiKey.objects.filter(pk=key.pk).update(revoked_at=timezone.now())
    with pytest.raises(identity.SignInRefused, match="has been revoked"):
        identity.signin_key(alice, alpha.pk)


def test_mcp_acts_with_the_managed_key_and_the_persons_grant(world) -> None:
    alice = world["users"]["alice"]
    key = identity.signin_key(alice, world["alpha"].pk)
    registry.rebuild()
    entry = identity.acting_entry(key.key_hash, alice.pk)
    assert entry is not None and entry.name == key.name
    assert entry.mcp_allowed == frozenset({"web__add"})  # not the key's own empty list
    assert identity.acting_entry(key.key_hash, alice.pk) is entry  # kept per snapshot
    assert identity.acting_entry("no-such-hash", alice.pk) is None
