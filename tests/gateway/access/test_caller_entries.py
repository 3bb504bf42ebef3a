"""The callers' side of the snapshot (``gateway.access.caller_entries``): keys by hash
with their team, owner's limits and guardrails (the key's then the team's, once each); a
deactivated user's keys come out revoked; a key's MCP grant within its team's; only the
tags with limits of their own."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from gateway.access import caller_entries
from gateway.access.caller_entries import limited_tags, names_list
from gateway.models import ApiKey, Profile, TagBudget, Team


def key(name: str, **fields) -> ApiKey:  # type: ignore[no-untyped-def]
    return ApiKey.objects.create(name=name, prefix=name[:4], key_hash=name * 8, **fields)


def test_a_stored_list_of_names_or_nothing() -> None:
    assert names_list(["pii", 3]) == ("pii", "3")
    assert names_list("pii") == () and names_list(None) == () and names_list({"a": 1}) == ()


@pytest.mark.django_db
def test_a_key_carries_its_team_and_both_guardrail_lists_once() -> None:
    red = Team.objects.create(name="red", rpm_limit=60, guardrails=["pii", "toxicity"])
    key("k-red", team=red, guardrails=["secrets", "pii"])
    key("k-alone")
    found = caller_entries.keys()
    red_key = found["k-red" * 8]
    assert red_key.team is not None and (red_key.team.name, red_key.team.rpm_limit) == ("red", 60)
    assert red_key.guardrails == ("secrets", "pii", "toxicity")
    alone = found["k-alone" * 8]
    assert alone.team is None and alone.guardrails == () and alone.owner is None


@pytest.mark.django_db
def test_a_deactivated_users_keys_and_a_revoked_key_come_out_revoked() -> None:
    gone, here = User.objects.create_user("gone"), User.objects.create_user("here")
    key("k-gone", user=gone)
    key("k-here", user=here)
    key("k-revoked", user=here, revoked_at=timezone.now())
    gone.is_active = False
    gone.save()
    found = caller_entries.keys()
    assert found["k-gone" * 8].revoked and found["k-revoked" * 8].revoked
    assert not found["k-here" * 8].revoked


@pytest.mark.django_db
def test_an_owner_with_limits_of_their_own_rides_on_their_keys() -> None:
    limited, free = User.objects.create_user("limited"), User.objects.create_user("free")
    Profile.objects.create(user=limited, role="member", budget_usd=Decimal("5"))
    Profile.objects.create(user=free, role="member")
    key("k-limited", user=limited)
    key("k-free", user=free)
    found = caller_entries.keys()
    owner = found["k-limited" * 8].owner
    assert owner is not None and (owner.name, owner.budget_usd) == ("limited", Decimal("5"))
    assert found["k-free" * 8].owner is None  # no limits: no owner entry to count


@pytest.mark.django_db
def test_a_keys_mcp_grant_stays_within_its_teams() -> None:
    narrow = Team.objects.create(name="narrow", mcp_allowed=["docs"])
    key("k-narrow", team=narrow, mcp_allowed=["*"])
    key("k-open", mcp_allowed=["docs", "search"])
    found = caller_entries.keys()
    assert found["k-narrow" * 8].mcp_allowed == frozenset({"docs"})
    assert found["k-open" * 8].mcp_allowed == frozenset({"docs", "search"})


@pytest.mark.django_db
def test_only_tags_with_limits_are_entries() -> None:
    TagBudget.objects.create(name="crew", budget_usd=Decimal("1"))
    TagBudget.objects.create(name="idle")
    assert set(limited_tags()) == {"crew"}
    assert limited_tags()["crew"].budget_usd == Decimal("1")
